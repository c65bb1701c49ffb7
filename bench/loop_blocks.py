"""What holds the worker's event loop: latency with the loop's long steps and full collections.

Run: ``python -m bench.loop_blocks [--rate R] [--seconds S] [--runs N]`` (defaults: 500
events/s, 30 s, 1 run; about 1.5 min per run).

Each run is ``bench.throughput``'s latency stage (a fresh deployment on its own Tansu broker,
a worker warmed up, then SYNTHETIC live-mix events paced at R/s for S s, outputs read back:
p50 / p99 event -> output), with a probe in the worker process (a ``sitecustomize`` put on
its ``PYTHONPATH``): every event-loop step (``asyncio.Handle._run``) longer than 30 ms and
every full (generation 2) garbage collection is written down with its duration. A latency
above the paced rate's share of a second comes from such steps: while one runs, no event is
read and no output is sent. Printed per run: the latency line, the long steps and the full
collections in order (ms).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PROBE = '''
import asyncio.events, gc, os, time
_out = open(os.environ["LOOP_BLOCKS_LOG"], "a", buffering=1)
_run_step = asyncio.events.Handle._run
def _run(self, _pc=time.perf_counter):
    t0 = _pc()
    _run_step(self)
    took = _pc() - t0
    if took > 0.03:
        _out.write(f"step {took * 1e3:.0f}\\n")
asyncio.events.Handle._run = _run
_gc_start = [0.0]
def _gc(phase, info):
    if phase == "start":
        _gc_start[0] = time.perf_counter()
    elif info["generation"] == 2:
        _out.write(f"gc2 {(time.perf_counter() - _gc_start[0]) * 1e3:.0f}\\n")
gc.callbacks.append(_gc)
'''


def parse(log: str) -> tuple[list[int], list[int]]:
    """The long steps and the full collections (ms) a probe log holds, in order.

    >>> parse("step 40\\ngc2 12\\nstep 31\\n")
    ([40, 31], [12])
    """
    steps = [int(m) for m in re.findall(r"^step (\d+)$", log, re.M)]
    collections = [int(m) for m in re.findall(r"^gc2 (\d+)$", log, re.M)]
    return steps, collections


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rate", type=float, default=500.0, help="events/s (default 500)")
    parser.add_argument("--seconds", type=float, default=30.0, help="paced for (default 30)")
    parser.add_argument("--runs", type=int, default=1, help="runs, one after the other")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0 or args.runs < 1:
        parser.error("--rate and --seconds must be > 0, --runs >= 1")

    from bench.harness import lifeline_run
    from bench.throughput import print_latency, run_latency

    for run in range(1, args.runs + 1):
        with lifeline_run(partitions=4) as dep:
            probe = dep.work / "probe"
            probe.mkdir()
            (probe / "sitecustomize.py").write_text(PROBE)
            log = dep.work / "loop-blocks.log"
            extra = {"PYTHONPATH": f"{ROOT}:{probe}", "LOOP_BLOCKS_LOG": str(log)}
            latency = run_latency(dep, args.rate, args.seconds, 100_000, extra, "info")
            dep.stop_workers()
            print(f"run {run}: ", end="")
            print_latency(latency)
            steps, collections = parse(log.read_text() if log.exists() else "")
            print(f"  event-loop steps over 30 ms (ms, in order): {steps}")
            print(f"  full garbage collections (ms, in order): {collections}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
