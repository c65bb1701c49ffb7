"""Due-user schedule: which users to re-score at a watermark, at a cost per tick ~ users due.

Silence is an event: users who stop sending events are found here, without scanning all users.

Pure: no Faust, no I/O. Keep one schedule per partition in worker memory and rebuild it from
the partition's table on assignment (``schedule(user, due)`` for every user); it is an index,
not a source of truth.
"""

from __future__ import annotations

import heapq
import math


class DueSchedule:
    """Users bucketed by due time (event time); rescheduling replaces the due time lazily.

    Each user has one current due time (``dict``); bucket lists may keep stale entries that
    are skipped when popped, and are compacted when they outnumber live users 2:1. Whole
    buckets before the watermark's bucket are popped without looking at later ones; the
    watermark's own bucket is turned into a heap once, so repeated ticks inside it cost
    ``O(due * log(bucket))``. Memory: about 150 bytes per user plus the user-id strings.

    Parameters
    ----------
    bucket_seconds
        Bucket width in event-time seconds (default one hour).

    >>> s = DueSchedule(bucket_seconds=60)
    >>> s.schedule("u1", 100.0); s.schedule("u2", 500.0); s.schedule("u1", 1_000.0)
    >>> s.pop_due(600.0), len(s)
    (['u2'], 1)
    >>> s.pop_due(1_000.0)
    ['u1']
    """

    def __init__(self, bucket_seconds: float = 3600.0) -> None:
        if not (math.isfinite(bucket_seconds) and bucket_seconds > 0):
            raise ValueError("bucket_seconds must be finite and > 0")
        self.bucket_seconds = float(bucket_seconds)
        self._due: dict[str, float] = {}
        self._buckets: dict[int, list[str]] = {}
        self._order: list[int] = []  # heap of bucket ids present in _buckets
        self._cur_bucket: int | None = None  # the watermark's bucket, kept as a heap
        self._cur: list[tuple[float, str]] = []
        self._entries = 0  # entries in buckets and _cur, stale ones included
        self._watermark = -math.inf

    def _bucket(self, due: float) -> int:
        return int(due // self.bucket_seconds)

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._due

    def due_at(self, user_id: str) -> float | None:
        """The user's current due time, None when not scheduled.

        >>> s = DueSchedule()
        >>> s.schedule("u1", 10.0)
        >>> s.due_at("u1"), s.due_at("u2")
        (10.0, None)
        """
        return self._due.get(user_id)

    def schedule(self, user_id: str, due_at: float) -> None:
        """(Re)schedule ``user_id`` at event time ``due_at``; the previous due time is dropped.

        >>> s = DueSchedule()
        >>> s.schedule("u1", 10.0); s.schedule("u1", 7_200.0)
        >>> s.pop_due(3_600.0), len(s)
        ([], 1)
        """
        if not math.isfinite(due_at):
            raise ValueError("due_at must be finite")
        due_at = float(due_at)
        if self._due.get(user_id) == due_at:
            return
        self._due[user_id] = due_at
        self._entries += 1
        b = self._bucket(due_at)
        if b == self._cur_bucket:
            heapq.heappush(self._cur, (due_at, user_id))
            return
        bucket = self._buckets.get(b)
        if bucket is None:
            self._buckets[b] = bucket = []
            heapq.heappush(self._order, b)
        bucket.append(user_id)
        if self._entries > 2 * len(self._due) + 4096:
            self._compact()

    def unschedule(self, user_id: str) -> bool:
        """Forget the user (e.g. deleted); True when it was scheduled.

        >>> s = DueSchedule()
        >>> s.schedule("u1", 10.0)
        >>> s.unschedule("u1"), s.unschedule("u1"), s.pop_due(20.0)
        (True, False, [])
        """
        return self._due.pop(user_id, None) is not None

    def pop_due(self, watermark: float) -> list[str]:
        """Remove and return the users due at or before ``watermark`` (earlier buckets first).

        The watermark never moves backwards: a lower value acts as the highest one seen.

        >>> s = DueSchedule(bucket_seconds=10)
        >>> for u, d in [("a", 5.0), ("b", 25.0), ("c", 12.0)]:
        ...     s.schedule(u, d)
        >>> s.pop_due(20.0), s.pop_due(0.0), s.pop_due(30.0)
        (['a', 'c'], [], ['b'])
        """
        if math.isnan(watermark):
            raise ValueError("watermark must not be NaN")
        wm = self._watermark = max(self._watermark, watermark)
        wb = self._bucket(wm) if math.isfinite(wm) else (-1 if wm < 0 else 2**62)
        out: list[str] = []
        due = self._due
        if self._cur_bucket is not None and self._cur_bucket < wb:
            self._drain(self._cur, wm, out)
            self._cur_bucket = None
        order, buckets, width = self._order, self._buckets, self.bucket_seconds
        while order and order[0] < wb:
            b = heapq.heappop(order)
            users = buckets.pop(b)
            self._entries -= len(users)
            for u in users:
                d = due.get(u)
                if d is not None and d // width == b:  # else stale: rescheduled elsewhere
                    out.append(u)
                    del due[u]
        if self._cur_bucket is None and order and order[0] == wb:
            heapq.heappop(order)
            users = buckets.pop(wb)
            self._entries -= len(users)
            self._cur = [(due[u], u) for u in set(users) if u in due and self._bucket(due[u]) == wb]
            self._entries += len(self._cur)
            heapq.heapify(self._cur)
            self._cur_bucket = wb
        if self._cur_bucket == wb:
            self._drain(self._cur, wm, out)
        return out

    def _drain(self, heap: list[tuple[float, str]], wm: float, out: list[str]) -> None:
        due = self._due
        while heap and heap[0][0] <= wm:
            d, u = heapq.heappop(heap)
            self._entries -= 1
            if due.get(u) == d:
                out.append(u)
                del due[u]

    def _compact(self) -> None:
        """Rebuild the buckets from the live due times (drops stale entries)."""
        self._buckets, self._order, self._cur = {}, [], []
        for u, d in self._due.items():
            b = self._bucket(d)
            if b == self._cur_bucket:
                self._cur.append((d, u))
            else:
                self._buckets.setdefault(b, []).append(u)
        heapq.heapify(self._cur)
        self._order = list(self._buckets)
        heapq.heapify(self._order)
        self._entries = len(self._due)
