"""Memory per user that the worker holds, in one process, without Faust's consumer or a broker.

Run: ``python -m bench.worker_memory [--users U] [--events N] [--hot-states H] [--root PATH]``
(defaults: U=1,000,000, N=400,000, H=0; about 1 min per run).

Every single-event message of the SYNTHETIC history (``bench.live_mix.history``: sessions of
U users over 90 days, N events; about 7 % of U have events) goes through the agent's
``handle`` in partition order, as in ``bench/worker_path.py`` (output sends are no-op
coroutines), except that the sink drops what it is handed (rows, states, acks) as a sink that
wrote them would. Every 2 % of the messages the process's resident set size is read
(``/proc/self/statm``, after a garbage collection) with the number of users in the table.

Printed: the least-squares slope of RSS over users, fitted over the samples once a quarter of
the run's users are in (imports, the model bundle and the first allocations come before),
times 1,000,000 (memory per 1M users); what the table holds per user (mean bytes of its
values); and the wall time of one full garbage collection before the run and at its end (it
walks every object the collector tracks; a pause of the worker's event loop). What grows with
users is all in the slope: the memory-store table, the due schedules, hot states
(``--hot-states``; 0 by default, since the cache is capped at ``LIFELINE_HOT_STATES`` users
and costs a constant beyond that) and the allocator's overhead.

``--root`` runs another checkout's code with this file (e.g. the main branch in a detached
worktree), for a before/after comparison on one machine.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any
from unittest.mock import patch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# Neither imports the project at module level (``--root`` puts another checkout first).
from bench.footprint import slope  # noqa: E402
from bench.in_process import handle_in_order, ready_app  # noqa: E402

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    """This process's resident set size in bytes."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


def full_collection() -> float:
    """Seconds one full garbage collection takes (it walks every object the collector tracks:
    the table's, if it holds dicts; the worker's event loop waits meanwhile)."""
    gc.collect()
    started = time.perf_counter()
    gc.collect()
    return time.perf_counter() - started


async def _dropped(*args: Any, **kwargs: Any) -> None:
    """A sink call whose rows, states and ack are written at once."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=1_000_000, help="U (default 1000000)")
    parser.add_argument("--events", type=int, default=400_000, help="N (default 400000)")
    parser.add_argument("--hot-states", type=int, default=0,
                        help="LIFELINE_HOT_STATES for the run (default 0: off)")
    parser.add_argument("--root", default=None, help="checkout whose code to run")
    args = parser.parse_args(argv)
    if args.users < 1 or args.events < 100 or args.hot_states < 0:
        parser.error("--users >= 1, --events >= 100, --hot-states >= 0")
    root = Path(args.root).resolve() if args.root else ROOT
    sys.path.insert(0, str(root))

    import orjson

    import agents.track_user_profiles as agent
    from bench.live_mix import history
    from streams.runtime.outputs import sink
    from streams.runtime.tables import hot_profiles, profiles_for_user
    from streams.runtime.worker_state import WorkerState

    # The events stay alive to the end: freeing them would leave holes in the small-object
    # arenas that a table of small objects (dicts) fills without growing the RSS, which a
    # table of bytes above 512 B (malloc'd) cannot: the comparison would be biased.
    events = history(args.users, args.events)
    messages = [(str(e["user_id"]).encode(), orjson.dumps(e)) for e in events]
    every = max(len(messages) // 50, 1)
    worker = WorkerState(max_future_skew_s=agent.settings.max_future_skew_s)
    worker.ready(worker.assignment)  # the table is complete: nothing to recover
    samples: list[tuple[int, int]] = []
    empty_gc = full_collection()  # the events and messages, before any user is held

    def users() -> int:
        return sum(1 for key in profiles_for_user.data if not str(key).startswith("\x00"))

    def sample(i: int) -> None:
        if i % every == 0:
            gc.collect()
            samples.append((users(), rss()))

    with ExitStack() as stack:
        stack.enter_context(patch.object(agent, "worker", worker))
        stack.enter_context(patch.object(hot_profiles, "capacity", args.hot_states))
        stack.enter_context(patch.object(sink, "put", _dropped))
        stack.enter_context(patch.object(sink, "mark", lambda *a, **k: None))
        ready_app(stack)
        asyncio.run(handle_in_order(messages, sample))
    held = users()
    del events
    full_gc = full_collection()
    fitted = [(u, r) for u, r in samples if u >= held / 4]
    per_user = slope([(float(u), float(r)) for u, r in fitted])
    values = [len(v) if isinstance(v, bytes) else len(orjson.dumps(v))
              for k, v in profiles_for_user.data.items() if not str(k).startswith("\x00")]
    kind = type(next(iter(profiles_for_user.data.values()))).__name__
    profiles_for_user.data.clear()
    hot_profiles.clear()
    print(f"code: {root}")
    print(f"worker memory, SYNTHETIC history: {len(messages)} single-event messages, "
          f"{held} users, LIFELINE_HOT_STATES={args.hot_states}; table values are {kind}, "
          f"serialized mean {sum(values) / len(values):.0f} B")
    print(f"RSS {fitted[0][1] / 2**20:.0f} -> {fitted[-1][1] / 2**20:.0f} MiB over "
          f"{fitted[0][0]}-{fitted[-1][0]} users: slope {per_user:,.0f} B/user -> "
          f"{per_user * 1e6 / 2**30:.2f} GiB per 1M users")
    print(f"a full garbage collection: {empty_gc * 1e3:.0f} ms before the run, "
          f"{full_gc * 1e3:.0f} ms with {held} users held")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
