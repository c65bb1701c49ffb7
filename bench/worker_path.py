"""CPU per message of the worker's own path, in one process, without Faust's consumer or a broker.

Run: ``python -m bench.worker_path [--events N] [--users U] [--repeat R]``.

``bench.step_cost`` times the pure step; ``bench.throughput`` the whole worker under Faust.
This harness times what lies between them: every single-event message of the SYNTHETIC live
mix (``bench.live_mix``, N events of U users, 4 partitions by key) goes through the agent's
``handle`` (partition lock, validation, privacy hooks, hot state or table, the lifecycle
step, ``Effects`` with its sends and settle, the partition's catch-up, ``sink.put``, the
partition's mark) in partition order. Output sends are no-op coroutines and the sink only
buffers (it never flushes: no database, no changelog), so the result is the worker's Python
work per message, not Faust's and not I/O. Each run starts from an empty table (and no hot
states); the fastest of ``--repeat`` runs is printed (the least disturbed by other processes).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from unittest.mock import patch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.in_process import PARTITIONS, handle_in_order, ready_app  # noqa: E402
from bench.live_mix import collector_batches, live_mix  # noqa: E402


def run_once(messages: list[tuple[bytes, bytes]]) -> tuple[float, dict[str, int]]:
    """Handle ``messages`` (key, value) from an empty table; CPU seconds and worker counts."""
    import agents.track_user_profiles as agent
    from streams.runtime.outputs import sink
    from streams.runtime.tables import hot_profiles, profiles_for_user
    from streams.runtime.worker_state import WorkerState

    profiles_for_user.data.clear()
    hot_profiles.clear()
    worker = WorkerState(max_future_skew_s=agent.settings.max_future_skew_s)
    worker.ready(worker.assignment)  # the table is complete: nothing to recover

    with ExitStack() as stack:
        stack.enter_context(patch.object(agent, "worker", worker))
        for name, value in (("batch", 10**12), ("max_pending", 10**12),
                            ("max_pending_rows", 10**12), ("_rows", {}), ("_acks", []),
                            ("_states", {}), ("_buffered", 0)):
            stack.enter_context(patch.object(sink, name, value))
        started = time.process_time()
        asyncio.run(handle_in_order(messages))
        cpu = time.process_time() - started
    profiles_for_user.data.clear()
    hot_profiles.clear()
    return cpu, dict(worker.stats)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="N (default 50000)")
    parser.add_argument("--users", type=int, default=100_000, help="U (default 100000)")
    parser.add_argument("--repeat", type=int, default=3, help="R (default 3)")
    parser.add_argument("--batch-mean", type=int, default=0,
                        help="collector batches of this mean size (default 0: single events)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.users < 1 or args.repeat < 1:
        parser.error("--events, --users and --repeat must be >= 1")

    from streams.runtime.tables import hot_profiles

    events = live_mix(args.users, args.events)
    if args.batch_mean > 0:
        messages = [(str(b[0]["user_id"]).encode(), orjson.dumps(b))
                    for b in collector_batches(events, mean=args.batch_mean)]
    else:
        messages = [(str(e["user_id"]).encode(), orjson.dumps(e)) for e in events]
    users = len({key for key, _ in messages})
    runs: list[float] = []
    with ExitStack() as stack:
        ready_app(stack)
        for _ in range(args.repeat):
            hits, misses = hot_profiles.hits, hot_profiles.misses
            cpu, stats = run_once(messages)
            runs.append(cpu / len(messages) * 1e6)
            print(f"run: {runs[-1]:.1f} CPU µs/message ({stats['valid']} valid, "
                  f"{stats['duplicate']} duplicates; hot states: {hot_profiles.hits - hits} "
                  f"hits, {hot_profiles.misses - misses} misses)")
    print(f"worker path, SYNTHETIC live mix, {len(messages)} single-event messages of {users} "
          f"users, {PARTITIONS} partitions, LIFELINE_HOT_STATES={hot_profiles.capacity}: "
          f"fastest of {args.repeat}: {min(runs):.1f} CPU µs/message")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
