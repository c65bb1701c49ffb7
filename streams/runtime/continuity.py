"""No source message skipped: a per-partition "applied up to" mark and a gap filler.

Faust resumes a worker's source partitions before it seeks them to their committed offsets
(``Recovery.on_recovery_completed``; the same race as faust-streaming issue #216), so after a
restart or a rebalance the stream can start past the committed offset, or jump ahead once.
Faust then books the skipped offsets as a "gap", commits past them, and their events are never
seen again: a worker killed before it had made those events durable loses them.

Lifeline does not rely on the consumer's position. Every processed message moves its
partition's mark (the next offset not yet applied), which travels with the user states: into
the profile table and, at each sink flush, into its changelog, so it recovers with the
partition wherever the partition goes. Before a message is processed, the agent compares its
offset with the mark; anything in between is read straight from the broker and processed
first, in order. What was applied already is dropped by the per-user offset and event-id
checks, so the check costs one comparison per message and a replay changes nothing.

A partition without a mark has never had a flush, so nothing of it was committed either: its
processing starts at the group's committed offset if there is one (a deployment that predates
the marks), else at the start of the log (``auto_offset_reset = earliest``), and a stream that
starts later is filled the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from online_models.contract import RESERVED_KEY_PREFIX
from streams.runtime.faust_private import add_gap, committed_offset
from streams.runtime.offsets import stop_quietly

log = logging.getLogger(__name__)

T = TypeVar("T")

# Marks share the profile table with users; the contract refuses every user id that holds
# a control character, so no user id starts with RESERVED_KEY_PREFIX ("\x00").
MARK_PREFIX = f"{RESERVED_KEY_PREFIX}lifeline-next-offset:"


def mark_key(partition: int) -> str:
    """The table key of a partition's mark (no valid user id can be one: see the contract).

    >>> mark_key(3)
    '\\x00lifeline-next-offset:3'
    """
    return f"{MARK_PREFIX}{partition}"


def mark_partition(key: Any) -> int | None:
    """The partition whose mark ``key`` is, or None for any other key.

    >>> mark_partition(mark_key(7)), mark_partition("u-42")
    (7, None)
    """
    if isinstance(key, str) and key.startswith(MARK_PREFIX):
        return int(key[len(MARK_PREFIX):])
    return None


class Marks:
    """Per source partition: the next offset whose message has not been applied.

    >>> marks = Marks()
    >>> marks.gap(0, 5) is None  # no mark yet: trust the consumer
    True
    >>> marks.advance(0, 5)
    {'next': 6}
    >>> marks.gap(0, 6) is None, marks.gap(0, 9), marks.gap(0, 3) is None
    (True, (6, 9), True)
    """

    def __init__(self) -> None:
        self.next: dict[int, int] = {}

    def take(self, key: Any, value: Any) -> bool:
        """Keep the mark if ``key`` is one (from a recovered table); False for other keys.

        >>> marks = Marks()
        >>> marks.take(mark_key(2), {"next": 40}), marks.take("u-42", {}), marks.next
        (True, False, {2: 40})
        """
        partition = mark_partition(key)
        if partition is None:
            return False
        if isinstance(value, dict) and "next" in value:
            self.next[partition] = int(value["next"])
        return True

    def start_at(self, partition: int, offset: int) -> None:
        """Give a partition without a mark the offset its processing must start at."""
        self.next.setdefault(partition, offset)

    def gap(self, partition: int, offset: int) -> tuple[int, int] | None:
        """``(start, end)`` of the offsets to apply before ``offset``, or None."""
        expected = self.next.get(partition)
        if expected is None or offset <= expected:
            return None
        return expected, offset

    def advance(self, partition: int, offset: int) -> dict[str, int]:
        """Record that ``offset`` was applied; returns the mark's new table value."""
        self.next[partition] = max(self.next.get(partition, 0), offset + 1)
        return {"next": self.next[partition]}


async def until_done(what: str, attempt: Callable[[], Awaitable[T]], *,
                     max_backoff: float = 10.0) -> T:
    """Await ``attempt()`` until it succeeds, logging each failure and backing off.

    Nothing may be skipped, so the agent waits for the broker the way the sink waits for the
    database.
    """
    backoff = 0.5
    while True:
        try:
            return await attempt()
        except Exception as exc:
            log.warning("%s failed, retrying in %.1fs: %r", what, backoff, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


async def start_offsets(bootstrap: str, group: str,
                        tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    """Per partition: the group's committed offset, or else the first offset of the log."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        begin = await consumer.beginning_offsets(tps)
    finally:
        await stop_quietly(consumer)
        await admin.close()
    out = {}
    for tp in tps:
        meta = committed.get(tp)
        out[tp] = meta.offset if meta is not None and meta.offset >= 0 else begin[tp]
    return out


async def read_range(bootstrap: str, topic: str, partition: int, start: int, end: int, *,
                     timeout: float = 60.0) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message of ``topic[partition]`` with ``start <= offset < end``, in order.

    Offsets below the log start (deleted by retention) are simply absent. Raises
    ``TimeoutError`` when the broker does not deliver the range within ``timeout`` seconds.
    """
    if start >= end:
        return []
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        out: list[ConsumerRecord[bytes, bytes]] = []
        deadline = time.monotonic() + timeout
        while await consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}[{partition}] {start}..{end}: only "
                                   f"{len(out)} messages after {timeout:.0f}s")
            batch = await consumer.getmany(tp, timeout_ms=500)
            out.extend(m for m in batch.get(tp, []) if start <= m.offset < end)
        return out
    finally:
        await stop_quietly(consumer)


async def release_skipped(consumer: Any, tp: Any, previous: int | None, offset: int) -> None:
    """Let Faust commit past offsets its consumer skipped before ``offset``.

    ``previous`` is the offset of the partition's previous message from the consumer in this
    assignment (None for the first one: then the committed offset is the reference). Faust
    commits only a run of acked offsets that starts at its committed offset; when the stream
    skips ahead (the race above) without Faust booking a gap, the run never starts again and
    commits of that partition stop for good. Call this once the skipped messages are applied
    (they were, or the gap filler applied them): it books them the way Faust books offsets
    that never arrive, so they are committed once a later message is acked.
    """
    if previous is None:
        start = committed_offset(consumer, tp)
        if start is None or offset <= start:
            return
    elif offset > previous + 1:
        start = previous + 1
    else:
        return
    log.info("%s[%s]: the consumer skipped from %s to %s (committed %s)", tp.topic,
             tp.partition, start, offset, committed_offset(consumer, tp))
    await add_gap(consumer, tp, start, offset - 1)
