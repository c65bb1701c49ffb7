"""Bytes per user and memory per user, for ``bench/throughput.py``.

Bytes per user
    ``state_sizes(events)``: every event goes through the worker's pure step in this process
    (``parse_event``, ``engine.on_event`` with a fresh model bundle, as ``bench.step_cost``),
    and each user's final ``UserState.to_bytes()`` is measured: what one changelog record of
    the user costs and what a RocksDB table keeps per user.

RSS per user, two ways
    * ``Sampler``: while a worker runs, sample its RSS (``psutil``) and the number of users in
      ``user_profiles`` every poll; ``slope()`` is the least-squares slope of RSS over users,
      fitted over the samples once a quarter of the run's users are in (the worker's start-up
      growth, first model snapshot and sink buffers come before). It includes everything that
      grows with users in the worker: the memory-store table, the due schedule, dedupe
      windows, allocator overhead; GC and sink buffers add noise, so it is printed with the
      users it was fitted over.
    * ``table_bytes_per_user(events)``: in a fresh subprocess, the serialized states of the
      users (what the memory store keeps, ``state.to_bytes()``) are cloned under new user ids
      to 3 sizes (``TABLE_SIZES``), and the subprocess's RSS is read after each; the slope
      over the 3 sizes is the table's own memory per user (no worker around it).

Both are extrapolated linearly to 1,000,000 users (``per 1M = slope x 1e6``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
TABLE_SIZES = (50_000, 100_000, 200_000)
MIB = 1024 * 1024


def final_states(events: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Each user's ``UserState`` after the full pure step over ``events`` (fresh models)."""
    from online_models.bundle import ModelBundle
    from online_models.contract import Rejection, parse_event
    from online_models.engine import EngineConfig, on_event
    from online_models.profile import UserState

    config, bundle, now = EngineConfig(), ModelBundle(), time.time()
    states: dict[str, UserState] = {}
    for offset, raw in enumerate(events):
        event = parse_event(orjson.dumps(raw), now=now)
        if isinstance(event, Rejection):
            continue
        state = states.setdefault(event.user_id, UserState())
        on_event(event.user_id, state, event, models=bundle, config=config, offset=offset)
    return states


def state_sizes(events: Sequence[dict[str, Any]]) -> dict[str, int]:
    """Serialized bytes of each user's state after the full pure step over ``events``."""
    return {user: len(state.to_bytes()) for user, state in final_states(events).items()}


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x.

    >>> slope([(0, 1.0), (1, 3.0), (2, 5.0)])
    2.0
    """
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in points) / sxx


@dataclass
class Sampler:
    """(users in the database, worker RSS bytes) samples of one running worker."""

    pid: int
    points: list[tuple[float, float]] = field(default_factory=list)

    def sample(self, users: int) -> None:
        import psutil

        try:
            rss = psutil.Process(self.pid).memory_info().rss
        except psutil.Error:
            return
        if users:
            self.points.append((float(users), float(rss)))

    def cpu(self) -> float:
        """CPU seconds (user + system) of the worker so far (nan once it is gone)."""
        import psutil

        try:
            times = psutil.Process(self.pid).cpu_times()
        except psutil.Error:
            return float("nan")
        return float(times.user + times.system)

    def slope(self) -> float:
        """RSS bytes per user over the last three quarters of the users (nan: too few)."""
        start = self.users / 4
        return slope([(x, y) for x, y in self.points if x >= start])

    @property
    def users(self) -> int:
        """Users in the database at the last sample."""
        return int(max((x for x, _ in self.points), default=0))

    @property
    def peak(self) -> float:
        return max((y for _, y in self.points), default=0.0)


_TABLE_PROBE = """
import gc, sys, orjson, psutil
states = orjson.loads(sys.stdin.buffer.read())
sizes = [int(s) for s in sys.argv[1].split(",")]
proc, table, out = psutil.Process(), {}, []
gc.collect()
out.append((0, proc.memory_info().rss))
i = 0
for size in sizes:
    while len(table) < size:
        # a copy of the serialized state per user, as the memory store keeps it
        table[f"syn-live-clone-{i}"] = states[i % len(states)].encode()
        i += 1
    gc.collect()
    out.append((len(table), proc.memory_info().rss))
print(orjson.dumps(out).decode())
"""


def table_bytes_per_user(events: Sequence[dict[str, Any]],
                         sizes: Sequence[int] = TABLE_SIZES) -> tuple[float, list[Any]]:
    """Memory-store bytes per user (slope over ``sizes``) and the (users, RSS) points."""
    encoded = [s.to_bytes().decode() for s in final_states(events).values()]
    result = subprocess.run(
        [sys.executable, "-c", _TABLE_PROBE, ",".join(str(s) for s in sizes)],
        input=orjson.dumps(encoded), capture_output=True, check=True, cwd=ROOT, timeout=600,
    )
    points = orjson.loads(result.stdout)
    return slope([(float(u), float(r)) for u, r in points[1:]]), points
