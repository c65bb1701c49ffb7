"""Throughput of Lifeline vs a bare Faust agent, a raw consumer and Quix Streams; latency.

Run: ``python -m bench.throughput [--users U] [--events N] [--partitions P]`` (defaults:
U=100,000, N=50,000, P=4; about 5 min on a loaded 2-core machine; ``--quick``: a smoke run
with N=20,000, U=20,000). Everything below happens in one run, on
one Tansu broker, with the same SYNTHETIC events, so the ratios printed side by side are the
result; absolute rates depend on the machine and its load (printed with ``uptime``).

Events
------
``bench.live_mix.live_mix(U, N)``: N SYNTHETIC events of a population of U users (default
100,000), sessions of a few to tens of events, a realistic type mix, event-time ordered
across users over the last hour (live traffic). ``collector_batches`` groups the same events
per user into JSON arrays (mean 10-20 events per message, printed). The catch-up run uses
``bench.live_mix.history(U, N)``: the same kind of sessions over 90 days of past event time.

What one run does
-----------------
1. ``bench.harness.lifeline_run``: Tansu on a free port (or ``--broker``), a fresh topic set
   and PostgreSQL database. The N single-event messages are published to its ``user-events``
   before any consumer starts.
2. On that topic, one consumer at a time, each from offset 0 with a fresh group:

   a. ``raw``: an ``aiokafka`` consumer in this process that only ``orjson.loads`` values;
   b. ``bare``: ``bench/bare_app.py``, a Faust app whose one agent only decodes and counts;
   c. ``quix``: ``bench/peers.py``, Quix Streams with a per-user profile (events, purchases,
      revenue) in RocksDB state with its changelog topic;
   d. ``single``: the Lifeline worker (``python -m streams worker``: validation, the whole
      lifecycle step, state table + changelog, PostgreSQL sink).

3. ``batched``: a second deployment (topics + database) on the same broker; the same events
   as collector batches (JSON arrays), then the Lifeline worker. A worker that does not
   accept arrays dead-letters them: the run then says ``unmeasured`` (with the number of
   dead-lettered messages) instead of a rate.
4. ``catch-up``: a third deployment; the history events are in the topic before the worker
   starts (a replay of history: the worker also re-assesses silent users as the watermark
   crosses their due times).
5. ``latency``: a fourth deployment; a worker is started and warmed up, then
   ``bench.latency`` paces fresh live-mix events at ``--latency-load`` (default 0.5) x the
   ``single`` rate measured in step 2 for ``--latency-seconds`` and reads the outputs back
   (event time = send time; one clock): p50 / p99 event -> output.
6. Bytes per user (``bench.footprint.state_sizes``: the full step over the live and the
   history events; target < 1 KiB) and memory per user: the worker's RSS slope over the
   users it holds (sampled during ``single`` and ``catch-up``) and the memory-store table's
   own slope over 3 sizes (``bench.footprint.table_bytes_per_user``), each x 1,000,000.

Timing method (the same for every consumer)
--------------------------------------------
All messages are in the topic before a consumer starts, so a consumer is never starved by
the producer and the 15-30 s consumer-group join is excluded: the clock starts when the
consumer has processed its first events and stops when it has processed the last.

* raw, bare and quix record ``t_first`` at their first processed message and ``t_N`` at the
  N-th (monotonic clock of the consuming process); rate = ``(N - 1) / (t_N - t_first)``.
* Lifeline is observed from outside, through the database the events must reach: every
  0.1 s the bench polls ``SELECT sum(events) FROM user_profiles``. ``t_first`` is the first
  poll that sees rows (``E_first`` events already counted), ``t_N`` the first poll where the
  sum equals N; rate = ``(N - E_first) / (t_N - t_first)``. Both ends are sink-flush
  completions, so the window is measured between like points; the remaining bias is against
  Lifeline: the last flush can wait up to one sink interval (1 s) to fill, plus up to 0.1 s
  of polling, and the window includes the database write of every event.

Rates are events/s for every consumer, batched included (events, not messages). Targets
(reported, never turned into an exit code): single >= 0.8 x bare; batched >= 1 x quix;
bytes per user < 1 KiB; RSS per 1M users <= 1.5 GiB; latency p99 <= 200 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.footprint import MIB, Sampler, state_sizes, table_bytes_per_user  # noqa: E402
from bench.harness import (  # noqa: E402
    Deployment,
    exit_cleanly_on_sigterm,
    lifeline_run,
    python_env,
    spawn,
    stop,
    tail,
)
from bench.latency import Latency, measure  # noqa: E402
from bench.live_mix import collector_batches, describe, history, live_mix  # noqa: E402

JOIN_TIMEOUT = 120.0  # seconds for a consumer to join its group and see the first event
RUN_TIMEOUT = 600.0  # seconds from the first event to the N-th before giving up
POLL = 0.1  # seconds between database polls of the full pipeline
TARGET = 0.8  # single >= TARGET x bare
KIB = 1024
RSS_TARGET = 1.5 * 1024 * MIB  # per 1M users
LATENCY_TARGET = 0.200  # p99, seconds
# Faust workers run with ``-l info``: at ``-l warn`` (or higher) Faust's worker starts its
# terminal spinner and sets the ROOT logger to DEBUG (faust/worker.py
# ``_setup_spinner_handler``), so every aiokafka/faust ``log.debug`` per message builds a
# LogRecord; that costs the full pipeline (changelog sends) more than the bare agent.
DEFAULT_LOGLEVEL = "info"
STAGES = ("raw", "bare", "quix", "single", "batched", "catchup", "latency", "footprint")


@dataclass
class Result:
    """One consumer's measurement: ``events`` processed in ``seconds`` (see module doc)."""

    name: str
    events: int
    seconds: float
    startup: float  # seconds from process/consumer start to its first processed event
    note: str = ""
    cpu: float = math.nan  # CPU seconds of the consuming process over the same window

    @property
    def cpu_us(self) -> float:
        """CPU microseconds per event (less sensitive to a loaded machine than the rate)."""
        return self.cpu / self.events * 1e6 if self.events > 0 else math.nan

    @property
    def rate(self) -> float:
        if self.seconds <= 0:
            return math.nan if self.events <= 0 else math.inf
        return self.events / self.seconds


# ------------------------------------------------------------------------------ publishing


async def _publish_pairs(bootstrap: str, topic: str,
                         pairs: Sequence[tuple[bytes, bytes]]) -> int:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20,
                                max_batch_size=256 * 1024, acks=1, client_id="bench-batches")
    await producer.start()
    try:
        for key, value in pairs:
            await producer.send(topic, value=value, key=key)
        await producer.flush()
    finally:
        await producer.stop()
    return len(pairs)


def publish_batches(dep: Deployment, batches: Sequence[Sequence[dict[str, Any]]]) -> int:
    """Publish each batch as one JSON array keyed by its user id; returns messages sent."""
    pairs = [(batch[0]["user_id"].encode(), orjson.dumps(list(batch))) for batch in batches]
    return asyncio.run(_publish_pairs(dep.bootstrap, dep.topic("user-events"), pairs))


async def _end_offsets(bootstrap: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, client_id="bench-offsets")
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer.topics()
            parts = consumer.partitions_for_topic(topic) or set()
        offsets = await consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(offsets.values()))
    finally:
        await consumer.stop()


def messages_in(dep: Deployment, name: str) -> int:
    """Messages in topic ``name`` of ``dep`` (sum of end offsets)."""
    return asyncio.run(_end_offsets(dep.bootstrap, dep.topic(name)))


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
    seen, first, first_cpu = 0, 0.0, 0.0
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
                        first, first_cpu = time.perf_counter(), time.process_time()
        last, cpu = time.perf_counter(), time.process_time() - first_cpu
    finally:
        await consumer.stop()
    return Result("raw aiokafka", n - 1, last - first, first - started, cpu=cpu)


def run_raw(bootstrap: str, topic: str, group: str, n: int) -> Result:
    return asyncio.run(_raw(bootstrap, topic, group, n))


def _wait_report(proc: subprocess.Popen[bytes], out: Path, log: Path, what: str
                 ) -> dict[str, Any]:
    """Wait for the first JSON line a benchmark subprocess writes to ``out``."""
    deadline = time.perf_counter() + JOIN_TIMEOUT + RUN_TIMEOUT
    while not out.exists() or not out.read_bytes().strip():
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{tail(log)}")
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{what} did not report N events:\n{tail(log)}")
        time.sleep(0.1)
    time.sleep(0.05)  # let the line be complete
    report: dict[str, Any] = orjson.loads(out.read_bytes().splitlines()[0])
    return report


def run_bare(
    broker: str,
    topic: str,
    group: str,
    n: int,
    partitions: int,
    work: Path,
    extra: Mapping[str, str],
    loglevel: str = DEFAULT_LOGLEVEL,
    name: str = "bare faust",
) -> Result:
    tag = uuid.uuid4().hex[:6]
    out, log = work / f"bare-{tag}.json", work / f"bare-{tag}.log"
    env = python_env(
        {
            "BENCH_BROKER": broker,
            "BENCH_TOPIC": topic,
            "BENCH_GROUP": group,
            "BENCH_EVENTS": str(n),
            "BENCH_OUT": str(out),
            "BENCH_PARTITIONS": str(partitions),
            "BENCH_DATADIR": str(work / f"bare-data-{tag}"),
            **extra,
        }
    )
    started_wall = time.time()
    proc = spawn(
        [sys.executable, "-m", "faust", "-A", "bench.bare_app", "worker", "-l", loglevel,
         "--without-web"],
        env,
        log,
    )
    try:
        report = _wait_report(proc, out, log, "bare worker")
    finally:
        stop(proc)
    return Result(name, n - 1, float(report["seconds"]),
                  float(report["first_wall"]) - started_wall, cpu=float(report["cpu"]))


def run_quix(bootstrap: str, topic: str, group: str, n: int, work: Path) -> Result:
    out, log = work / "quix.json", work / "quix.log"
    started_wall = time.time()
    proc = spawn(
        [sys.executable, "-m", "bench.peers", "--broker", bootstrap, "--topic", topic,
         "--group", group, "--events", str(n), "--out", str(out),
         "--state-dir", str(work / "quix-state")],
        python_env({}),
        log,
    )
    try:
        report = _wait_report(proc, out, log, "quix streams")
    finally:
        stop(proc)
    return Result("quix streams", n - 1, float(report["seconds"]),
                  float(report["first_wall"]) - started_wall, cpu=float(report["cpu"]))


class Unmeasured(Exception):
    """The worker did not process the messages (e.g. dead-lettered every one)."""


def run_lifeline(
    dep: Deployment, extra: Mapping[str, str], n: int, name: str,
    loglevel: str = DEFAULT_LOGLEVEL, sampler: list[Sampler] | None = None,
    stalled: Callable[[], str | None] | None = None,
) -> Result:
    """Start a worker on ``dep`` and time it until ``sum(events) == n`` (see module doc).

    ``stalled`` is asked every few seconds while no row exists; a message from it ends the
    run as :class:`Unmeasured`. ``sampler`` receives an RSS sampler of the worker.
    """
    started = time.perf_counter()
    worker = dep.start_worker(extra, loglevel=loglevel, name=name)
    rss = Sampler(worker.pid)
    if sampler is not None:
        sampler.append(rss)
    first = first_cpu = 0.0
    first_events = 0
    last_check = started
    try:
        while True:
            row = dep.query("SELECT coalesce(sum(events), 0), count(*) FROM user_profiles")[0]
            total, users = int(row[0]), int(row[1])
            rss.sample(users)
            now = time.perf_counter()
            if total and not first:
                first, first_events, first_cpu = now, total, rss.cpu()
            if total >= n:
                cpu = rss.cpu() - first_cpu
                break
            worker.check()
            if not total and stalled is not None and now - last_check > 5.0:
                last_check = now
                reason = stalled()
                if reason:
                    raise Unmeasured(reason)
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
    return Result(name, n - first_events, now - first, first - started, cpu=cpu)


def warm_up(dep: Deployment, users: int = 50) -> None:
    """Publish one event for each of ``users`` fresh users; wait until the database has them."""
    now = time.time()
    events = [{"event_id": f"syn-warm-e-{i}", "user_id": f"syn-warm-u-{i}", "type": "login",
               "ts": now} for i in range(users)]
    dep.publish(events)
    deadline = time.perf_counter() + JOIN_TIMEOUT * 2
    while int(dep.scalar("SELECT coalesce(sum(events), 0) FROM user_profiles")) < users:
        for worker in dep.workers:
            worker.check()
        if time.perf_counter() > deadline:
            raise TimeoutError("the worker did not take the warm-up events")
        time.sleep(POLL)


def run_latency(dep: Deployment, rate: float, seconds: float, users: int,
                extra: Mapping[str, str], loglevel: str) -> Latency:
    """Start a worker, warm it up, then measure event -> output at ``rate`` (bench.latency)."""
    dep.start_worker(extra, loglevel=loglevel, name="latency")
    warm_up(dep)
    time.sleep(2.0)  # the warm-up's flush and commit are done
    n = max(100, int(rate * seconds))
    events = live_mix(users, n, seed=11)
    return measure(dep.bootstrap, dep.topic("user-events"),
                   [dep.topic("segment-changes"), dep.topic("churn-alerts")], events, rate)


# ---------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000, help="N (default 50000)")
    parser.add_argument("--users", type=int, default=100_000,
                        help="user population of the live mix (default 100000)")
    parser.add_argument("--batch-mean", type=int, default=20,
                        help="collector batch size drawn in [m/2, 3m/2] (default 20)")
    parser.add_argument("--partitions", type=int, default=4, help="P (default 4)")
    parser.add_argument("--quick", action="store_true", help="smoke run: N=20000, U=20000")
    parser.add_argument("--broker", default=None, help="use kafka://host:port, not Tansu")
    parser.add_argument(
        "--only",
        default=",".join(STAGES),
        help=f"comma-separated subset of {','.join(STAGES)} (default all)",
    )
    parser.add_argument("--latency-seconds", type=float, default=30.0,
                        help="how long the paced producer runs (default 30)")
    parser.add_argument("--latency-load", type=float, default=0.5,
                        help="producer rate as a share of the measured single rate (0.5)")
    parser.add_argument("--latency-rate", type=float, default=None,
                        help="producer rate in events/s (default: load x single)")
    parser.add_argument(
        "--loglevel",
        default=DEFAULT_LOGLEVEL,
        choices=["crit", "error", "warn", "info", "debug"],
        help="-l of the Faust workers (default info; see DEFAULT_LOGLEVEL)",
    )
    parser.add_argument(
        "--full-env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra environment for every Lifeline worker (repeatable)",
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
        args.events, args.users = 20_000, 20_000
    if args.events < 2 or args.partitions < 1 or args.users < 1:
        parser.error("need --events >= 2, --users >= 1 and --partitions >= 1")
    if args.broker and not args.broker.startswith("kafka://"):
        parser.error("--broker must look like kafka://host:port")
    args.only = {s.strip() for s in args.only.split(",") if s.strip()}
    if unknown := args.only - set(STAGES):
        parser.error(f"unknown --only stages: {sorted(unknown)}")
    return args


def pairs(items: list[str]) -> dict[str, str]:
    return dict(item.split("=", 1) for item in items)


def _ratio(a: Result | None, b: Result | None) -> str:
    if a is None or b is None or not (a.rate > 0 and b.rate > 0):
        return "n/a"
    return f"{a.rate / b.rate:.2f}"


def print_table(results: dict[str, Result], unmeasured: dict[str, str]) -> None:
    print(f"{'consumer':<20} {'events':>8} {'seconds':>9} {'events/s':>10} {'startup s':>10} "
          f"{'CPU us/ev':>10}")
    for r in results.values():
        print(f"{r.name:<20} {r.events:>8} {r.seconds:>9.2f} {r.rate:>10,.0f} "
              f"{r.startup:>10.1f} {r.cpu_us:>10.1f}  {r.note}")
    for name, why in unmeasured.items():
        print(f"{name:<20} {'unmeasured':>40}  ({why})")
    get = results.get
    print(f"bare / raw        = {_ratio(get('bare'), get('raw'))}")
    print(f"quix / bare       = {_ratio(get('quix'), get('bare'))}")
    print(f"single / bare     = {_ratio(get('single'), get('bare'))}   (target >= {TARGET})")
    print(f"single / quix     = {_ratio(get('single'), get('quix'))}")
    print(f"batched / quix    = {_ratio(get('batched'), get('quix'))}   (target >= 1)")
    print(f"batched / single  = {_ratio(get('batched'), get('single'))}")
    print(f"catch-up / single = {_ratio(get('catchup'), get('single'))}")
    for a, b in (("single", "bare"), ("batched", "quix"), ("single", "quix"), ("quix", "bare")):
        if get(a) and get(b):
            print(f"{a} / {b} by CPU per event = {results[b].cpu_us / results[a].cpu_us:.2f} "
                  f"(CPU us/ev of {b} / of {a}: the rate ratio the CPU cost alone allows)")
    if get("single") and get("bare"):
        ratio = results["single"].rate / results["bare"].rate
        print(f"target single >= {TARGET} x bare: {'PASS' if ratio >= TARGET else 'FAIL'}")
    if get("batched") and get("quix"):
        ratio = results["batched"].rate / results["quix"].rate
        print(f"target batched >= 1 x quix: {'PASS' if ratio >= 1 else 'FAIL'}")


def print_sizes(label: str, sizes: Sequence[int]) -> None:
    ordered = sorted(sizes)
    if not ordered:
        return
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    mean = statistics.fmean(ordered)
    print(f"state bytes per user, {label} ({len(ordered):,} users, full step, "
          f"UserState.to_bytes): mean {mean:.0f}, p95 {p95}, max {ordered[-1]}; "
          f"target mean < {KIB}: {'PASS' if mean < KIB else 'FAIL'}, "
          f"p95 < {KIB}: {'PASS' if p95 < KIB else 'FAIL'}")


def print_rss(samplers: Mapping[str, Sampler], table: tuple[float, list[Any]] | None) -> None:
    for name, s in samplers.items():
        per = s.slope()
        if math.isnan(per):
            print(f"worker RSS ({name}): too few samples")
            continue
        per_m = per * 1e6
        print(f"worker RSS ({name}): slope {per:,.0f} B/user over {s.users // 4:,}.."
              f"{s.users:,} users "
              f"(peak {s.peak / MIB:,.0f} MiB) -> {per_m / MIB:,.0f} MiB per 1M users; "
              f"target <= 1.5 GiB: {'PASS' if per_m <= RSS_TARGET else 'FAIL'}")
    if table is not None:
        per, points = table
        shown = ", ".join(f"{u:,}: {r / MIB:,.0f} MiB" for u, r in points)
        print(f"memory-store table alone: {per:,.0f} B/user ({shown}) -> "
              f"{per * 1e6 / MIB:,.0f} MiB per 1M users")


def print_latency(lat: Latency) -> None:
    p50, p99 = lat.quantile(0.50), lat.quantile(0.99)
    verdict = "PASS" if p99 <= LATENCY_TARGET else "FAIL"
    print(f"latency event -> output at {lat.rate:,.0f} ev/s target ({lat.achieved:,.0f} "
          f"achieved, {lat.sent:,} events, {len(lat.samples):,} outputs matched, "
          f"{lat.alerts} alerts): p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
          f"max {max(lat.samples, default=math.nan) * 1000:.0f} ms; "
          f"target p99 <= {LATENCY_TARGET * 1000:.0f} ms: {verdict}")


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "uptime unavailable"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    n, users, partitions, only = args.events, args.users, args.partitions, args.only
    full_env, loglevel = pairs(args.full_env), args.loglevel
    run_id = uuid.uuid4().hex[:12]
    t0 = time.perf_counter()
    results: dict[str, Result] = {}
    unmeasured: dict[str, str] = {}
    samplers: dict[str, Sampler] = {}
    latency: Latency | None = None
    table: tuple[float, list[Any]] | None = None
    print(f"machine load at start: {_uptime()}")
    started = time.perf_counter()
    events = live_mix(users, n)
    past = history(users, n)
    print(f"SYNTHETIC live mix ({time.perf_counter() - started:.1f}s): {describe(events)}")
    print(f"SYNTHETIC history (90 days): {describe(past)}")
    try:
        with lifeline_run(partitions=partitions, broker=args.broker) as dep:
            topic = dep.topic("user-events")
            print(f"broker {dep.broker}, topic {topic} ({partitions} partitions), "
                  f"database {dep.dbname}")
            started = time.perf_counter()
            sent = dep.publish(events)
            print(f"published {sent} single-event messages in "
                  f"{time.perf_counter() - started:.1f}s", flush=True)

            if "raw" in only:
                results["raw"] = run_raw(dep.bootstrap, topic, f"bench-raw-{run_id}", n)
                print(f"  raw done: {results['raw'].rate:,.0f} ev/s", flush=True)
            if "bare" in only:
                results["bare"] = run_bare(dep.broker, topic, f"bench-bare-{run_id}", n,
                                           partitions, dep.work, pairs(args.bare_env), loglevel)
                print(f"  bare done: {results['bare'].rate:,.0f} ev/s", flush=True)
            if "quix" in only:
                results["quix"] = run_quix(dep.bootstrap, topic, f"bench-quix-{run_id}", n,
                                           dep.work)
                print(f"  quix done: {results['quix'].rate:,.0f} ev/s", flush=True)
            if "single" in only:
                found: list[Sampler] = []
                results["single"] = run_lifeline(dep, full_env, n, "lifeline single",
                                                 loglevel, found)
                samplers["single"] = found[0]
                print(f"  single done: {results['single'].rate:,.0f} ev/s", flush=True)

            if "batched" in only:
                batches = collector_batches(events, mean=args.batch_mean)
                with lifeline_run(partitions=partitions, broker=dep.broker) as bdep:
                    publish_batches(bdep, batches)
                    mean = n / len(batches)
                    print(f"published {len(batches):,} collector batches "
                          f"(mean {mean:.1f} events per message)", flush=True)

                    def dead_lettered() -> str | None:
                        dlq = messages_in(bdep, "user-events-dlq")
                        if dlq:
                            return (f"the worker dead-lettered {dlq:,} array messages and "
                                    "applied none: it does not accept collector batches")
                        return None

                    try:
                        result = run_lifeline(bdep, full_env, n, "lifeline batched", loglevel,
                                              stalled=dead_lettered)
                        result.note = f"{len(batches):,} messages, {mean:.1f} ev/msg"
                        results["batched"] = result
                        print(f"  batched done: {result.rate:,.0f} ev/s", flush=True)
                    except Unmeasured as exc:
                        unmeasured["lifeline batched"] = str(exc)
                        print(f"  batched unmeasured: {exc}", flush=True)

            if "catchup" in only:
                with lifeline_run(partitions=partitions, broker=dep.broker) as cdep:
                    cdep.publish(past)
                    found = []
                    result = run_lifeline(cdep, full_env, n, "lifeline catch-up", loglevel,
                                          found)
                    result.note = "90 days of history"
                    results["catchup"] = result
                    samplers["catch-up"] = found[0]
                    print(f"  catch-up done: {result.rate:,.0f} ev/s", flush=True)

            if "latency" in only:
                rate = args.latency_rate
                if rate is None and "single" in results:
                    rate = args.latency_load * results["single"].rate
                if rate is None:
                    print("latency skipped: give --latency-rate or run single")
                else:
                    with lifeline_run(partitions=partitions, broker=dep.broker) as ldep:
                        latency = run_latency(ldep, rate, args.latency_seconds, users,
                                              full_env, loglevel)
            print(f"machine load at the end of the runs: {_uptime()}")

        print()
        print_table(results, unmeasured)
        if latency is not None:
            print_latency(latency)
        if "footprint" in only:
            print_sizes("live hour", list(state_sizes(events).values()))
            print_sizes("90 days of history", list(state_sizes(past).values()))
            table = table_bytes_per_user(past)
        print_rss(samplers, table)
    finally:
        print(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
