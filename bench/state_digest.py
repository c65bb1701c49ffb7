"""A digest of everything the pure step decides, with every state going through its bytes.

Run: ``python -m bench.state_digest [--events N] [--users U] [--seed S]``.

To show that a change of the serialized user state (``UserState.to_bytes``) changes no
decision, run this at the commit before and after the change and compare the digests. The
SYNTHETIC live hour and 90 days of history (``bench.live_mix``) and one heavy user (the
dedupe cap at work, ``bench.step_cost.heavy_user_values``) go through the worker's pure step
as a worker without hot states runs it: each event is validated, its user's state decoded
from the bytes the table holds (``UserState.from_bytes``), the lifecycle step applied
(``engine.on_event``; a model bundle learns every training example as it comes), the state
encoded again (``to_bytes``); every 1,000 events the users whose due time the watermark
passed are re-assessed (``engine.on_tick``), as the worker's ticks do. The digest (sha256)
covers each step's outputs (training examples, segment changes, alerts, outcomes, due time,
counts), the ``user_profiles`` row and the decoded state's ``repr`` (every field, its type
and order); it does not cover the bytes themselves, so two forms of them give one digest.

It also checks, at every step, that the state decoded from its bytes has the ``repr`` of the
state encoded (exits 1 otherwise), and prints the serialized bytes per user.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from bench.live_mix import history, live_mix  # noqa: E402
from bench.step_cost import heavy_user_values  # noqa: E402
from online_models.bundle import ModelBundle  # noqa: E402
from online_models.contract import Event, parse_event  # noqa: E402
from online_models.engine import Emits, EngineConfig, on_event, on_tick  # noqa: E402
from online_models.profile import UserState  # noqa: E402
from streams.runtime.outputs import profile_row  # noqa: E402

TICK_EVERY = 1000
END = 1_790_000_000.0  # the mixes end here (not now): the same events on every run


def _emits(out: Emits) -> list[Any]:
    return [out.applied, [ex.to_dict() for ex in out.training],
            [c.to_dict() for c in out.changes], [a.to_dict() for a in out.alerts],
            [o.to_dict() for o in out.outcomes], out.due, out.evicted, out.duplicates]


def run(values: list[bytes]) -> tuple[str, list[int], int]:
    """The sha256 of the step's decisions over ``values``, the bytes per user at the end,
    and how many decoded states differed from the state encoded."""
    config, bundle = EngineConfig(), ModelBundle()
    table: dict[str, bytes] = {}
    digest, mismatches, watermark = hashlib.sha256(), 0, 0.0
    now = max(orjson.loads(v)["ts"] for v in values) + 1.0

    def record(user_id: str, state: UserState, out: Emits) -> None:
        nonlocal mismatches
        for ex in out.training:
            bundle.learn(ex)
        kept = state.to_bytes()
        table[user_id] = kept
        if repr(UserState.from_bytes(kept)) != repr(state):
            mismatches += 1
        digest.update(orjson.dumps([user_id, _emits(out), repr(state),
                                    {k: str(v) for k, v in profile_row(user_id, state).items()}]))

    for offset, value in enumerate(values):
        event = parse_event(value, now=now)
        if not isinstance(event, Event):
            digest.update(repr(event).encode())
            continue
        state = UserState.from_bytes(table.get(event.user_id))
        out = on_event(event.user_id, state, event, models=bundle, config=config, offset=offset)
        record(event.user_id, state, out)
        watermark = max(watermark, event.ts)
        if offset % TICK_EVERY == TICK_EVERY - 1:
            for user_id in sorted(table):
                state = UserState.from_bytes(table[user_id])
                if state.due is not None and state.due <= watermark:
                    record(user_id, state, on_tick(user_id, state, watermark=watermark,
                                                   models=bundle, config=config))
    return digest.hexdigest(), [len(v) for v in table.values()], mismatches


def _sizes(sizes: list[int]) -> str:
    ordered = sorted(sizes)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return f"{len(ordered):,} users, bytes mean {sum(ordered) / len(ordered):.0f}, p95 {p95}, " \
           f"max {ordered[-1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--heavy-events", type=int, default=6000,
                        help="events of the heavy user (default 6000: past the 5,000-id cap)")
    args = parser.parse_args(argv)
    failed = False
    for name, events in (
            ("live hour", live_mix(args.users, args.events, end=END, seed=args.seed)),
            ("90 days of history", history(args.users, args.events, end=END, seed=args.seed))):
        sha, sizes, mismatches = run([orjson.dumps(e) for e in events])
        failed |= mismatches > 0
        print(f"SYNTHETIC {name} (seed {args.seed}, {args.events:,} events): sha256 {sha}; "
              f"{_sizes(sizes)}; decoded != encoded: {mismatches}", flush=True)
    sha, sizes, mismatches = run(heavy_user_values(args.heavy_events))
    failed |= mismatches > 0
    print(f"heavy user ({args.heavy_events:,} events): sha256 {sha}; {_sizes(sizes)}; "
          f"decoded != encoded: {mismatches}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
