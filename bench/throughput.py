"""Throughput of the full Lifeline worker vs a bare Faust agent vs a raw aiokafka consumer.

Run: ``python bench/throughput.py [--events N] [--partitions P] [--broker kafka://h:p]``
(or ``python -m bench.throughput ...``); ``--quick`` is a CI smoke run with N=20,000.

What one run does
-----------------
1. ``bench.harness.lifeline_run``: starts Tansu on a free port (unless ``--broker`` is given),
   creates a fresh topic set with ``LIFELINE_TOPIC_PREFIX=bench-<uuid>-``
   (``streams.cli.admin.create_topics``) and a fresh PostgreSQL database ``bench_<hex>`` on the
   server of ``LIFELINE_TEST_PG`` migrated to head (``streams.cli.admin.migrate``).
2. Publishes the SAME N synthetic events (``streams.data.datasets.synthetic_events``, first N) once
   to ``<prefix>user-events`` with ``streams.cli.replay.replay``.
3. Consumes them three times from offset 0, each with a fresh consumer group, one at a time:

   a. ``raw``:  an ``aiokafka`` consumer in this process that only ``orjson.loads`` each value;
   b. ``bare``: ``bench/bare_app.py``, a separate Faust app whose one agent only decodes and
      counts (subprocess ``python -m faust -A bench.bare_app worker``);
   c. ``full``: the Lifeline worker, ``python -m streams worker`` (validation, profile state
      table + changelog, PostgreSQL sink), configured by ``LIFELINE_*`` variables.

4. Prints serialized bytes per user profile (``UserState.to_bytes``) after applying the same
   events in-process with ``online_models.profile.apply_event`` (typical users: target p95
   < 1 KiB), and the same for one heavy user with 2,000 events in a day
   (``bench.step_cost.heavy_user_values``; event ids of the last day are 10 bytes each).

Timing method (the same for all three)
--------------------------------------
All N events are in the topic before a consumer starts, so a consumer is never starved by
the producer and the 15-30 s consumer-group join is excluded: the clock starts when the
consumer has *processed its first events* and stops when it has processed the N-th; the rate
is ``events processed inside the window / window``.

* raw and bare record ``t_first`` at their first decoded message and ``t_N`` at the N-th
  (monotonic clock of the consuming process); rate = ``(N - 1) / (t_N - t_first)``.
* full is observed from outside, through the database the events must reach: every 0.1 s
  the bench polls ``SELECT sum(events) FROM user_profiles``. ``t_first`` is the first poll
  that sees rows (``E_first`` events already counted), ``t_N`` the first poll where the sum
  equals N (every synthetic event is valid); rate = ``(N - E_first) / (t_N - t_first)``.
  Both ends are sink-flush completions (the sink flushes every ``LIFELINE_SINK_BATCH`` acked
  messages or every ``LIFELINE_SINK_INTERVAL`` = 1 s), so the window is measured between
  like points; the remaining bias is against the full pipeline: the last flush can wait up
  to one sink interval (1 s) for its batch to fill, plus up to 0.1 s of polling. It includes
  the database write of every event, which the other two do not do at all.

The target is ``full >= 0.8 x bare``; a FAIL is reported, not turned into an exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import math
import statistics
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.harness import (  # noqa: E402
    Deployment,
    exit_cleanly_on_sigterm,
    lifeline_run,
    python_env,
    spawn,
    stop,
    tail,
)

JOIN_TIMEOUT = 120.0  # seconds for a consumer to join its group and see the first event
RUN_TIMEOUT = 300.0  # seconds from the first event to the N-th before giving up
POLL = 0.1  # seconds between database polls of the full pipeline
TARGET = 0.8  # full >= TARGET x bare
# Faust workers run with ``-l info``: at ``-l warn`` (or higher) Faust's worker starts its
# terminal spinner and sets the ROOT logger to DEBUG (faust/worker.py
# ``_setup_spinner_handler``), so every aiokafka/faust ``log.debug`` per message builds a
# LogRecord; that costs the full pipeline (changelog sends) more than the bare agent.
DEFAULT_LOGLEVEL = "info"


@dataclass
class Result:
    """One consumer's measurement: ``events`` processed in ``seconds`` (see module doc)."""

    name: str
    events: int
    seconds: float
    startup: float  # seconds from process/consumer start to its first processed event

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds > 0 else math.inf


# -------------------------------------------------------------------------------- events


def make_events(n: int) -> list[dict[str, Any]]:
    """The first ``n`` synthetic events (120 days; users grown until there are enough)."""
    from streams.data.datasets import synthetic_events

    users = max(50, n // 100)
    while True:
        events = list(itertools.islice(synthetic_events(users=users, days=120), n))
        if len(events) == n:
            return events
        users *= 2


def profile_sizes(events: list[dict[str, Any]]) -> list[int]:
    """Serialized bytes per user after applying ``events`` in order (pure, in-process).

    Offsets are the event's index in the stream (a worker passes the partition offset, which
    is smaller, so this is an upper bound by a byte or two).
    """
    from online_models.contract import Rejection, parse_event
    from online_models.profile import ProfileConfig, UserState, apply_event

    config, now = ProfileConfig(), time.time()
    states: dict[str, UserState] = {}
    for offset, raw in enumerate(events):
        event = parse_event(orjson.dumps(raw), now=now)
        if isinstance(event, Rejection):
            continue
        state = states.setdefault(event.user_id, UserState())
        apply_event(state, event, config, offset=offset)
    return [len(state.to_bytes()) for state in states.values()]


# ------------------------------------------------------------------------------ consumers


async def _raw(bootstrap: str, topic: str, group: str, n: int) -> Result:
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=True,
        client_id="bench-raw",
    )
    started = time.perf_counter()
    await consumer.start()
    seen, first = 0, 0.0
    loads = orjson.loads
    try:
        while seen < n:
            batches = await consumer.getmany(timeout_ms=500, max_records=10_000)
            if not batches and not seen and time.perf_counter() - started > JOIN_TIMEOUT:
                raise TimeoutError(f"raw consumer saw nothing in {JOIN_TIMEOUT}s")
            for messages in batches.values():
                for message in messages:
                    loads(message.value)
                    seen += 1
                    if seen == 1:
                        first = time.perf_counter()
        last = time.perf_counter()
    finally:
        await consumer.stop()
    return Result("raw aiokafka", n - 1, last - first, first - started)


def run_raw(bootstrap: str, topic: str, group: str, n: int) -> Result:
    return asyncio.run(_raw(bootstrap, topic, group, n))



def run_bare(
    broker: str,
    topic: str,
    group: str,
    n: int,
    partitions: int,
    work: Path,
    extra: Mapping[str, str],
    loglevel: str = DEFAULT_LOGLEVEL,
) -> Result:
    out, log = work / "bare.json", work / "bare.log"
    env = python_env(
        {
            "BENCH_BROKER": broker,
            "BENCH_TOPIC": topic,
            "BENCH_GROUP": group,
            "BENCH_EVENTS": str(n),
            "BENCH_OUT": str(out),
            "BENCH_PARTITIONS": str(partitions),
            "BENCH_DATADIR": str(work / "bare-data"),
            **extra,
        }
    )
    started = time.perf_counter()
    started_wall = time.time()
    proc = spawn(
        [
            sys.executable,
            "-m",
            "faust",
            "-A",
            "bench.bare_app",
            "worker",
            "-l",
            loglevel,
            "--without-web",
        ],
        env,
        log,
    )
    try:
        deadline = started + JOIN_TIMEOUT + RUN_TIMEOUT
        while not out.exists() or not out.read_bytes().strip():
            if proc.poll() is not None:
                raise RuntimeError(f"bare worker exited with {proc.returncode}:\n{tail(log)}")
            if time.perf_counter() > deadline:
                raise TimeoutError(f"bare worker did not report N events:\n{tail(log)}")
            time.sleep(0.1)
        time.sleep(0.05)  # let the line be complete
        report = orjson.loads(out.read_bytes().splitlines()[0])
    finally:
        stop(proc)
    return Result(
        "bare faust", n - 1, float(report["seconds"]), float(report["first_wall"]) - started_wall
    )


def run_full(
    dep: Deployment, extra: Mapping[str, str], n: int, loglevel: str = DEFAULT_LOGLEVEL
) -> Result:
    started = time.perf_counter()
    worker = dep.start_worker(extra, loglevel=loglevel, name="full")
    first = 0.0
    first_events = 0
    try:
        while True:
            total = int(dep.scalar("SELECT coalesce(sum(events), 0) FROM user_profiles"))
            now = time.perf_counter()
            if total and not first:
                first, first_events = now, total
            if total >= n:
                break
            worker.check()
            if not first and now - started > JOIN_TIMEOUT:
                raise TimeoutError(f"no profile row after {JOIN_TIMEOUT}s:\n{tail(worker.log)}")
            if now - started > JOIN_TIMEOUT + RUN_TIMEOUT:
                raise TimeoutError(
                    f"only {total}/{n} events in the database:\n{tail(worker.log)}"
                )
            time.sleep(POLL)
    finally:
        worker.stop()
    if total != n:
        print(f"WARNING: database holds {total} events, expected {n}", file=sys.stderr)
    return Result("full lifeline", n - first_events, now - first, first - started)


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="N (default 100000)")
    parser.add_argument("--partitions", type=int, default=4, help="P (default 4)")
    parser.add_argument("--quick", action="store_true", help="CI smoke run: N=20000")
    parser.add_argument("--broker", default=None, help="use kafka://host:port, not Tansu")
    parser.add_argument(
        "--only",
        default="raw,bare,full",
        help="comma-separated subset of raw,bare,full (default all)",
    )
    parser.add_argument(
        "--loglevel",
        default=DEFAULT_LOGLEVEL,
        choices=["crit", "error", "warn", "info", "debug"],
        help="-l of both Faust workers (default info; see DEFAULT_LOGLEVEL)",
    )
    parser.add_argument(
        "--full-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for the Lifeline worker (repeatable)",
    )
    parser.add_argument(
        "--bare-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for bench/bare_app.py (repeatable)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.events = 20_000
    if args.events < 2 or args.partitions < 1:
        parser.error("need --events >= 2 and --partitions >= 1")
    if args.broker and not args.broker.startswith("kafka://"):
        parser.error("--broker must look like kafka://host:port")
    return args


def pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def print_table(results: list[Result]) -> None:
    print(f"{'consumer':<15} {'events':>8} {'seconds':>9} {'events/s':>10} {'startup s':>10}")
    for r in results:
        print(f"{r.name:<15} {r.events:>8} {r.seconds:>9.2f} {r.rate:>10,.0f} {r.startup:>10.1f}")
    by = {r.name.split()[0]: r for r in results}
    if "full" in by and "bare" in by:
        ratio = by["full"].rate / by["bare"].rate
        print(f"full / bare = {ratio:.2f}")
    if "bare" in by and "raw" in by:
        print(f"bare / raw  = {by['bare'].rate / by['raw'].rate:.2f}")
    if "full" in by and "raw" in by:
        print(f"full / raw  = {by['full'].rate / by['raw'].rate:.2f}")
    if "full" in by and "bare" in by:
        verdict = "PASS" if ratio >= TARGET else "FAIL"
        print(f"target full >= {TARGET} x bare: {verdict} ({ratio:.2f})")


def print_sizes(sizes: list[int], heavy: int) -> None:
    ordered = sorted(sizes)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    verdict = "PASS" if p95 < 1024 else "FAIL"
    print(
        f"profile bytes per user ({len(sizes)} users, UserState.to_bytes): "
        f"mean {statistics.fmean(sizes):.0f}, p95 {p95}, max {ordered[-1]}; "
        f"target p95 < 1024: {verdict}; heavy user (2,000 events in a day): {heavy}"
    )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    n, partitions = args.events, args.partitions
    only = {s.strip() for s in args.only.split(",") if s.strip()}
    run_id = uuid.uuid4().hex[:12]
    t0 = time.perf_counter()
    try:
        with lifeline_run(partitions=partitions, broker=args.broker) as dep:
            topic = dep.topic("user-events")
            print(f"broker {dep.broker}, topic {topic} ({partitions} partitions), "
                  f"database {dep.dbname}")

            started = time.perf_counter()
            events = make_events(n)
            print(
                f"generated {n} synthetic events ({len({e['user_id'] for e in events})} users) "
                f"in {time.perf_counter() - started:.1f}s"
            )
            started = time.perf_counter()
            sent = dep.publish(events)
            print(f"published {sent} events in {time.perf_counter() - started:.1f}s")

            results: list[Result] = []
            if "raw" in only:
                results.append(run_raw(dep.bootstrap, topic, f"bench-raw-{run_id}", n))
                print(f"  raw done: {results[-1].rate:,.0f} ev/s", flush=True)
            if "bare" in only:
                results.append(
                    run_bare(
                        dep.broker,
                        topic,
                        f"bench-bare-{run_id}",
                        n,
                        partitions,
                        dep.work,
                        pairs(args.bare_env),
                        args.loglevel,
                    )
                )
                print(f"  bare done: {results[-1].rate:,.0f} ev/s", flush=True)
            if "full" in only:
                results.append(run_full(dep, pairs(args.full_env), n, args.loglevel))
                print(f"  full done: {results[-1].rate:,.0f} ev/s", flush=True)
            print()
            print_table(results)
            from bench.step_cost import heavy_user_values  # imports the worker's modules

            heavy = [orjson.loads(v) for v in heavy_user_values(2000)]
            print_sizes(profile_sizes(events), profile_sizes(heavy)[0])
    finally:
        print(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
