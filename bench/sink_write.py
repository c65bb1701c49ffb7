"""Client cost of the sink's PostgreSQL writes: COPY + upsert from a stage vs executemany.

Run: ``python -m bench.sink_write [--users N] [--batch B] [--rounds R] [--profiles-only]``.

One scratch database (``bench.harness.create_database``, migrated, dropped at the end). The
same ``N`` ``user_profiles`` rows (the 16 columns of ``streams.runtime.outputs.profile_row``)
plus ``N / 2`` ``segment_transitions`` and ``N / 2`` ``segment_memberships`` rows (as
``change_rows`` makes them; none with ``--profiles-only``) are written with
``streams.storage.upserts.write_rows``, in flushes of ``B`` profile rows (and ``B / 2`` of
each segment table), as the sink does: ``copy=True`` (COPY) and ``copy=False`` (the
executemany path). One round writes everything once each way, in alternating order; every
round updates the profiles (``events`` grows, so the guard lets the rows through) and adds
new segment rows, so both ways do the same work.
A first round of each way is not counted (connections, stage tables, statement caches).

Printed per way: client CPU (``time.process_time`` of this process: formatting, driver,
SQLAlchemy) and wall time, in µs per row written, the median over the rounds; then the
ratios executemany / COPY of this run. The database server's own CPU is not in the client
CPU (it is in the wall time). Timings are noisy on a shared machine: compare ratios of one
run, and give the load (``uptime``) with every number.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import create_database, drop_database  # noqa: E402
from streams.storage.upserts import Row, Upsert, write_rows  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=UTC)
WAYS = ("executemany", "copy")


def specs() -> tuple[Upsert, Upsert, Upsert]:
    """The sink's specs of user_profiles, segment_transitions and segment_memberships."""
    os.environ.setdefault("LIFELINE_BROKER", "kafka://127.0.0.1:1")  # the app is not run
    from streams.runtime.outputs import MEMBERSHIPS, PROFILES, TRANSITIONS

    return PROFILES, TRANSITIONS, MEMBERSHIPS


def profile(i: int, events: int) -> Row:
    """A ``user_profiles`` row shaped like ``profile_row``'s."""
    seen = T0 + timedelta(seconds=events * 37 + i)
    return {"user_id": f"user-{i:07d}", "first_seen": T0 + timedelta(seconds=i),
            "last_seen": seen, "events": events, "purchases": events // 7,
            "revenue": events * 12.37 + i / 3, "sessions": events // 3,
            "cart_adds": events // 4, "cart_abandons": events // 9,
            "last_purchase": seen if events % 2 else None,
            "top_categories": ["books", "electronics", "garden"][: 1 + i % 3],
            "churn_risk": (i % 1000) / 1000, "lifecycle": "active",
            "value_segment": "high" if i % 5 else "low", "interest_segment": "books",
            "source_offset": 1_000_000 + events * 100 + i}


def segment_rows(i: int, round_: int) -> tuple[Row, Row]:
    """A transition and the membership it sets, as ``change_rows`` makes them."""
    change_id = f"{i:07d}-{round_:04d}-lifecycle"
    at = T0 + timedelta(seconds=round_ * 100 + i)
    return ({"change_id": change_id, "user_id": f"user-{i:07d}", "dimension": "lifecycle",
             "from_segment": "new", "to_segment": "active", "at": at, "reason": "events"},
            {"user_id": f"user-{i:07d}", "dimension": "lifecycle", "segment": "active",
             "since": at, "change_id": change_id})


def flushes(users: int, batch: int, round_: int, events: int, segments: bool = True
            ) -> list[dict[Upsert, list[Row]]]:
    """One round's writes: every user's profile, half the users' segment rows."""
    profiles, transitions, memberships = specs()
    out = []
    for start in range(0, users, batch):
        ids = range(start, min(start + batch, users))
        segs = [segment_rows(i, round_) for i in ids if segments and i % 2 == round_ % 2]
        out.append({profiles: [profile(i, events) for i in ids],
                    transitions: [s[0] for s in segs], memberships: [s[1] for s in segs]})
    return out


def timed(engine: Any, writes: list[dict[Upsert, list[Row]]], copy: bool
          ) -> tuple[float, float, int]:
    """Client CPU and wall seconds of writing ``writes``, and the rows written."""
    rows = 0
    cpu, wall = time.process_time(), time.perf_counter()
    for batches in writes:
        rows += write_rows(engine, batches, copy=copy)
    return time.process_time() - cpu, time.perf_counter() - wall, rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=20_000, help="profile rows per round")
    parser.add_argument("--batch", type=int, default=2000, help="profile rows per flush")
    parser.add_argument("--rounds", type=int, default=6, help="counted rounds of each way")
    parser.add_argument("--profiles-only", action="store_true",
                        help="write user_profiles rows only (no segment rows)")
    args = parser.parse_args(argv)
    from streams.cli.admin import migrate
    from streams.storage.schema import make_engine

    name = f"bench_sink_write_{uuid.uuid4().hex[:10]}"
    url = create_database(name)
    engine = None
    try:
        migrate(url)
        engine = make_engine(url)
        results: dict[str, list[tuple[float, float, int]]] = {w: [] for w in WAYS}
        events = 1
        for round_ in range(args.rounds + 1):
            order = WAYS if round_ % 2 == 0 else WAYS[::-1]
            for way in order:
                # The same work each way: new segment rows, profiles that pass the guard.
                events += 1
                writes = flushes(args.users, args.batch, 2 * round_ + (way == "copy"), events,
                                 not args.profiles_only)
                cost = timed(engine, writes, copy=way == "copy")
                if round_:
                    results[way].append(cost)
        print(f"rows per round and way: {results['copy'][0][2]} ({args.users} profiles"
              f"{' only' if args.profiles_only else ' + segment rows'}, "
              f"flushes of {args.batch}), {args.rounds} rounds, load: "
              f"{os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f}")
        median: dict[str, tuple[float, float]] = {}
        for way in WAYS:
            cpu = statistics.median(c / n * 1e6 for c, _, n in results[way])
            wall = statistics.median(w / n * 1e6 for _, w, n in results[way])
            median[way] = (cpu, wall)
            print(f"{way:>12}: client CPU {cpu:7.1f} µs/row   wall {wall:7.1f} µs/row")
        (old_cpu, old_wall), (new_cpu, new_wall) = median["executemany"], median["copy"]
        print(f"{'ratio':>12}: client CPU {old_cpu / new_cpu:7.2f}x        "
              f"wall {old_wall / new_wall:7.2f}x   (executemany / copy, this run)")
    finally:
        if engine is not None:
            engine.dispose()
        drop_database(name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
