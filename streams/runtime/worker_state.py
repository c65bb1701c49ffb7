"""The worker's runtime state: one object per source partition, owned by one per worker.

Everything here is derived from the profile table and the clock, so it needs no durability of
its own: :meth:`WorkerState.rebuild` makes it again after every assignment (the table holds
each user's partition and due time, and each partition's mark; see continuity.py).

The clock (``now``, the wall clock unless a test gives another) bounds event time: an event
stamped ahead of now (within the allowed skew, see online_models.contract) is applied, but the
partition's watermark never passes now for it; an operator tick may move it at most
``max_future_skew_s`` past now.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from online_models.profile import placement, stored
from online_models.schedule import DueSchedule
from streams.runtime.continuity import mark_partition


@dataclass(slots=True)
class PartitionState:
    """What a worker keeps about one source partition while it owns it.

    ``watermark`` is the partition's clock (max event time applied, None before the first);
    ``schedule`` holds the users due for a re-assessment; ``mark`` is the next offset not yet
    applied (None: no mark yet, trust the consumer); ``delivered`` is the offset of the
    consumer's previous message in this assignment (None before the first).

    >>> part = PartitionState(0)
    >>> part.gap(5) is None  # no mark yet: trust the consumer
    True
    >>> part.advance_mark(5)
    {'next': 6}
    >>> part.gap(6) is None, part.gap(9), part.gap(3) is None
    (True, (6, 9), True)
    """

    partition: int
    watermark: float | None = None
    schedule: DueSchedule = field(default_factory=DueSchedule)
    mark: int | None = None
    delivered: int | None = None

    def gap(self, offset: int) -> tuple[int, int] | None:
        """``(start, end)`` of the offsets to apply before ``offset``, or None."""
        if self.mark is None or offset <= self.mark:
            return None
        return self.mark, offset

    def advance_mark(self, offset: int) -> dict[str, int]:
        """Record that ``offset`` was applied; returns the mark's new table value."""
        self.mark = max(self.mark or 0, offset + 1)
        return {"next": self.mark}


class WorkerState:
    """This worker's :class:`PartitionState` per source partition, its counters and its clock.

    Parameters
    ----------
    now
        The wall clock (epoch seconds); tests pass their own.
    max_future_skew_s
        How far past ``now`` a tick may move a watermark (``LIFELINE_MAX_FUTURE_SKEW_S``).

    >>> worker = WorkerState(now=lambda: 1000.0, max_future_skew_s=60.0)
    >>> worker.stale  # before the first message of an assignment
    True
    >>> worker.event_time(0, 900.0), worker.event_time(0, 5000.0)  # applied, clock kept at now
    (900.0, 1000.0)
    >>> worker.tick_time(0, 1e12), worker.tick_time(0, None)  # capped at now + skew
    (1060.0, 1060.0)
    """

    def __init__(self, *, now: Callable[[], float] = time.time,
                 max_future_skew_s: float = 86_400.0) -> None:
        if max_future_skew_s < 0:
            raise ValueError("max_future_skew_s must be >= 0")
        self.now, self.max_future_skew_s = now, max_future_skew_s
        self.partitions: dict[int, PartitionState] = {}
        self.stats = {"valid": 0, "duplicate": 0, "dead_letters": 0, "rekeyed": 0, "ticks": 0,
                      "refetched": 0, "dedupe_evicted": 0}
        self.assignment = 0  # assignments seen (bumped by every rebalance)
        self._ready = -1  # the assignment the partitions were last rebuilt for

    def __getitem__(self, partition: int) -> PartitionState:
        part = self.partitions.get(partition)
        if part is None:
            part = self.partitions[partition] = PartitionState(partition)
        return part

    def assigned(self) -> None:
        """Partitions moved: rebuild before the next message."""
        self.assignment += 1

    @property
    def stale(self) -> bool:
        """True until :meth:`ready` is called for the latest assignment."""
        return self._ready != self.assignment

    def ready(self, assignment: int) -> None:
        """The partitions were rebuilt for ``assignment`` (read before the rebuild began)."""
        self._ready = assignment

    def rebuild(self, table: Iterable[tuple[Any, Any]]) -> None:
        """Watermarks, due schedules and marks, from one pass over the profile table.

        >>> worker = WorkerState(now=lambda: 500.0)
        >>> worker.rebuild([("u1", b'{"last_seen":90.0,"ext":{"p":1,"due":120}}'),
        ...                 ("u2", b'{"last_seen":900.0,"ext":{"p":1}}'),
        ...                 ("\\x00lifeline-next-offset:1", b'{"next":7}')])
        >>> part = worker[1]
        >>> part.watermark, part.schedule.due_at("u1"), part.mark, part.delivered
        (500.0, 120.0, 7, None)
        """
        now = self.now()
        self.partitions = {}
        for key, raw in table:
            marked = mark_partition(key)
            if marked is not None:
                try:
                    raw = stored(raw)
                except orjson.JSONDecodeError:  # a corrupt record: no mark (start offsets)
                    continue
                if isinstance(raw, dict) and "next" in raw:
                    self[marked].mark = int(raw["next"])
                continue
            partition, due, last_seen = placement(raw)
            if partition is None:
                continue
            part = self[partition]
            last = min(last_seen or 0.0, now)
            part.watermark = max(part.watermark or 0.0, last)
            if due is not None:
                part.schedule.schedule(key, due)

    def event_time(self, partition: int, ts: float) -> float:
        """The partition's watermark with an event at ``ts`` (never past now, never back).

        The caller stores it in ``self[partition].watermark`` once the event is applied.
        """
        at = min(ts, self.now())
        current = self[partition].watermark
        return at if current is None else max(current, at)

    def tick_time(self, partition: int, at: float | None) -> float:
        """Move the partition's watermark to a tick's ``at`` (capped at now + skew; never back).

        None keeps the watermark where it is (0.0 before any event).
        """
        part = self[partition]
        current = part.watermark or 0.0
        if at is not None:
            current = max(current, min(at, self.now() + self.max_future_skew_s))
        part.watermark = current
        return current

    def watermarks(self) -> dict[int, float]:
        """Per partition with a watermark, its value (for progress lines)."""
        return {p: s.watermark for p, s in sorted(self.partitions.items())
                if s.watermark is not None}
