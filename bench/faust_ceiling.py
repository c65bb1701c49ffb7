"""Faust's own ceiling: the bare agent under configurations, side by side, and its profile.

Run: ``python -m bench.faust_ceiling [--events N] [--repeat R] [--variants a,b] [--profile]``.

One Tansu broker, one topic holding N SYNTHETIC live-mix events (``bench.live_mix``); the bare
agent of ``bench/bare_app.py`` (decode and count) consumes it from offset 0 once per variant,
the variants interleaved ``--repeat`` times, each round starting one variant later (A B C,
B C A, C A B, ...) so a drift of the machine's load hits all of them alike; each rate is
measured as in ``bench.throughput`` (first to N-th event), with the worker process's CPU
seconds over the same window (per event: much less sensitive to a loaded machine than the
rate). Printed: every run, the medians per variant and their ratios to ``default``.

Variants (``VARIANTS``): ``default`` is the app's configuration as shipped; the others change
one supported setting each (``faust.App`` keyword arguments, via ``BENCH_FAUST_*``, or
``faust-monitor``: Faust's own monitor instead of the quiet one the worker ships with).
The producer settings (linger, acks) do not touch a bare agent that sends nothing: try them
on the full worker with ``bench.throughput --only single --full-env ...`` (not measured).

``--profile``: one more run of ``default`` under ``py-spy record`` (sampling, 200 Hz, the
agent's process only, idle and import frames dropped); prints the functions with the most
samples on top of the stack (self) and the packages with the most samples anywhere on the
stack (inclusive), as shares of the busy samples.
"""

from __future__ import annotations

import argparse
import collections
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.harness import exit_cleanly_on_sigterm, lifeline_run, python_env  # noqa: E402
from bench.live_mix import describe, live_mix  # noqa: E402
from bench.throughput import Result, run_bare  # noqa: E402

VARIANTS: dict[str, dict[str, str]] = {
    "default": {},
    "faust-monitor": {"BENCH_MONITOR": "faust"},
    "buffer-16k": {"BENCH_FAUST_STREAM_BUFFER_MAXSIZE": "16384"},
    "poll-2000": {"BENCH_FAUST_BROKER_MAX_POLL_RECORDS": "2000"},
    "fetch-4MiB": {"BENCH_FAUST_CONSUMER_MAX_FETCH_SIZE": str(4 * 1024 * 1024)},
    "no-wait-empty": {"BENCH_FAUST_STREAM_WAIT_EMPTY": "false"},
    "noack-events": {"BENCH_MODE": "noack"},
}
IDLE = ("epoll", "select", "_run_once (asyncio", "sleep")


def profile(broker: str, topic: str, n: int, partitions: int, work: Path, seconds: float
            ) -> None:
    """Run the default bare agent under py-spy; print self and inclusive shares."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    raw = work / "profile.txt"
    group = f"bench-prof-{uuid.uuid4().hex[:8]}"
    env = python_env({"BENCH_BROKER": broker, "BENCH_TOPIC": topic, "BENCH_GROUP": group,
                      "BENCH_EVENTS": str(n), "BENCH_OUT": str(work / "prof.json"),
                      "BENCH_PARTITIONS": str(partitions),
                      "BENCH_DATADIR": str(work / "prof-data")})
    cmd = [spy, "record", "--rate", "200", "--format", "raw", "--output", str(raw),
           "--duration", str(int(seconds)), "--", sys.executable, "-m", "faust", "-A",
           "bench.bare_app", "worker", "-l", "info", "--without-web"]
    with open(work / "prof.log", "wb") as log:
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        try:
            proc.wait(seconds + 60)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(10)
    if not raw.exists():
        print(f"py-spy wrote no profile (see {work / 'prof.log'})")
        return
    self_counts: collections.Counter[str] = collections.Counter()
    package_counts: collections.Counter[str] = collections.Counter()
    busy = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = stack.split(";")
        if "importlib" in stack or not ("aiokafka" in stack or "faust" in stack):
            continue  # start-up and imports
        if any(mark in frames[-1] for mark in IDLE):
            continue
        count = int(count_text)
        busy += count
        self_counts[frames[-1]] += count
        packages = set()
        for frame in frames:
            path = frame.rpartition("(")[2]
            for package in ("faust/sensors/", "faust/streams", "faust/transport/", "faust/",
                            "mode/", "aiokafka/", "kafka/", "orjson", "asyncio/",
                            "bench/"):
                if package in path:
                    packages.add(package.rstrip("/"))
        for package in packages:
            package_counts[package] += count
    if not busy:
        print("profile: no busy samples")
        return
    print(f"profile of the bare agent (py-spy, {busy} busy samples at 200 Hz):")
    print("  self (top of stack):")
    for frame, count in self_counts.most_common(15):
        print(f"    {count / busy:6.1%}  {frame[:110]}")
    print("  inclusive, by package:")
    for package, count in package_counts.most_common():
        print(f"    {count / busy:6.1%}  {package}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS),
                        help=f"comma-separated subset of {','.join(VARIANTS)}")
    parser.add_argument("--profile", action="store_true", help="also profile with py-spy")
    parser.add_argument("--profile-seconds", type=float, default=40.0)
    args = parser.parse_args(argv)
    names = [v.strip() for v in args.variants.split(",") if v.strip()]
    if unknown := set(names) - set(VARIANTS):
        parser.error(f"unknown variants {sorted(unknown)}")
    exit_cleanly_on_sigterm()
    events = live_mix(args.users, args.events)
    print(f"SYNTHETIC live mix: {describe(events)}")
    rates: dict[str, list[float]] = {name: [] for name in names}
    cpus: dict[str, list[float]] = {name: [] for name in names}
    with lifeline_run(partitions=args.partitions) as dep:
        topic = dep.topic("user-events")
        dep.publish(events)
        for round_ in range(args.repeat):
            # Each round starts one variant later, so none is always first (or last) while
            # the machine's load drifts.
            shift = round_ % len(names)
            for name in names[shift:] + names[:shift]:
                result: Result = run_bare(dep.broker, topic, f"bench-ceil-{uuid.uuid4().hex[:8]}",
                                          args.events, args.partitions, dep.work, VARIANTS[name])
                rates[name].append(result.rate)
                cpus[name].append(result.cpu_us)
                print(f"  round {round_ + 1} {name:<15} {result.rate:>9,.0f} ev/s "
                      f"{result.cpu_us:>7.1f} CPU us/ev", flush=True)
        if args.profile:
            profile(dep.broker, topic, args.events, args.partitions, dep.work,
                    args.profile_seconds)
    base = statistics.median(rates["default"]) if rates.get("default") else None
    base_cpu = statistics.median(cpus["default"]) if cpus.get("default") else None
    print(f"\n{'variant':<15} {'median ev/s':>12} {'vs default':>11} {'CPU us/ev':>10} "
          f"{'vs default':>11}  runs (ev/s)")
    for name, values in rates.items():
        median, cpu = statistics.median(values), statistics.median(cpus[name])
        ratio = f"{median / base:.2f}" if base else "n/a"
        cpu_ratio = f"{base_cpu / cpu:.2f}" if base_cpu else "n/a"
        runs = ", ".join(f"{v:,.0f}" for v in values)
        print(f"{name:<15} {median:>12,.0f} {ratio:>11} {cpu:>10.1f} {cpu_ratio:>11}  {runs}")
    print("(CPU us/ev: the bare worker process's CPU seconds over the timed window, every "
          "thread; 'vs default' > 1 means cheaper)")
    print(f"machine load: {subprocess.run(['uptime'], capture_output=True, text=True).stdout}")
    time.sleep(0)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
