"""Tick cost of the due-user schedule: 1 % vs 10 % of 1,000,000 users due, and a naive scan.

Run: ``python bench/tick.py [--users N]``. Each case builds a fresh :class:`DueSchedule` with
due times spread uniformly over 100 days of event time (1-hour buckets), then times one tick:
``pop_due(watermark)`` + re-scoring every due user (``churn_features`` of a state from a small
pool). The naive scan checks every user's due time, then scores the due ones. Expected: the
10 % tick costs ~10x the 1 % tick (cost follows due users), the naive scan ~ all users.
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from online_models.churn import churn_features
from online_models.contract import Event
from online_models.profile import DAY, ProfileConfig, UserState, apply_event
from online_models.schedule import DueSchedule

SPAN = 100 * DAY
T0 = 1.7e9


def state_pool(size: int, rng: random.Random) -> list[UserState]:
    """A few realistic states to score (the bench is about the schedule, not the states)."""
    cfg, pool = ProfileConfig(), []
    kinds = ("view", "view", "add_to_cart", "purchase", "login", "search")
    for i in range(size):
        s, ts = UserState(), T0 - 200 * DAY
        for j in range(rng.randint(1, 30)):
            ts += rng.uniform(0.1, 5.0) * DAY
            ev = Event(f"e{i}-{j}", f"u{i}", rng.choice(kinds), ts, category="shoes", price=30.0)
            apply_event(s, ev, cfg)
        pool.append(s)
    return pool


def build(users: list[str], dues: list[float]) -> DueSchedule:
    """Schedule every user at its due time."""
    sched = DueSchedule(bucket_seconds=3600.0)
    for u, d in zip(users, dues, strict=True):
        sched.schedule(u, d)
    return sched


def rescore(due: list[str], watermark: float, pool: list[UserState]) -> None:
    """Stand-in for the worker's re-scoring: churn features of a pooled state per due user."""
    n = len(pool)
    for i, _u in enumerate(due):
        churn_features(pool[i % n], watermark)


def tick(sched: DueSchedule, watermark: float, pool: list[UserState]) -> tuple[float, float, int]:
    """(seconds in pop_due, seconds in pop_due + re-scoring, users due)."""
    start = time.perf_counter()
    due = sched.pop_due(watermark)
    popped = time.perf_counter() - start
    rescore(due, watermark, pool)
    return popped, time.perf_counter() - start, len(due)


def naive(dues: dict[str, float], watermark: float, pool: list[UserState]) -> tuple[float, float]:
    """Scan every user's due time (the cheapest scan possible: no state decoding)."""
    start = time.perf_counter()
    due = [u for u, d in dues.items() if d <= watermark]
    scanned = time.perf_counter() - start
    rescore(due, watermark, pool)
    return scanned, time.perf_counter() - start


def table_scan(blobs: list[bytes], watermark: float) -> float:
    """What a schedule-less worker does: decode every user's state to check its silence."""
    start = time.perf_counter()
    due = 0
    for blob in blobs:
        s = UserState.from_bytes(blob)
        if s.last_seen is not None and watermark - s.last_seen > 30 * DAY:
            due += 1
    return time.perf_counter() - start


def main() -> None:
    """Run both cases and the naive scans, print costs and ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    users = [f"user-{i:07d}" for i in range(args.users)]
    dues = [T0 + rng.random() * SPAN for _ in users]
    pool = state_pool(64, rng)
    results = {}
    for share in (0.01, 0.10):
        start = time.perf_counter()
        sched = build(users, dues)
        built = time.perf_counter() - start
        # a watermark mid-bucket: the watermark's bucket is partially due
        wm = T0 + share * SPAN + 1234.5
        gc.collect()
        popped, cost, n = tick(sched, wm, pool)
        results[share] = (popped, cost, n)
        print(
            f"due {share:>4.0%}: {n:>8,d} users  pop_due {popped * 1e3:7.1f} ms  "
            f"pop+rescore {cost * 1e3:7.1f} ms ({cost / max(n, 1) * 1e6:.2f} us/due user; "
            f"build {built:.1f} s, {len(sched):,d} left)"
        )
        del sched
        gc.collect()
    (p1, c1, n1), (p10, c10, n10) = results[0.01], results[0.10]
    print(
        f"ratio 10% / 1%: pop+rescore {c10 / c1:.1f}x, pop_due alone {p10 / p1:.1f}x "
        f"(due users {n10 / max(n1, 1):.1f}x)"
    )
    wm = T0 + 0.01 * SPAN + 1234.5
    scanned, cost = naive(dict(zip(users, dues, strict=True)), wm, pool)
    print(
        f"naive scan at 1% due: scan {scanned * 1e3:.1f} ms ({scanned / p1:.1f}x pop_due), "
        f"scan+rescore {cost * 1e3:.1f} ms ({cost / c1:.1f}x the scheduled tick); "
        f"the scan grows with all {args.users:,d} users, pop_due with due users only"
    )
    pool_blobs = [s.to_bytes() for s in pool]
    blobs = [pool_blobs[i % len(pool_blobs)] for i in range(args.users)]
    cost = table_scan(blobs, wm)
    print(
        f"naive table scan (decode all {args.users:,d} states): {cost * 1e3:.0f} ms "
        f"({cost / c1:.0f}x the scheduled 1% tick)"
    )


if __name__ == "__main__":
    main()
