"""CPU cost of the worker's pure per-event work, stage by stage, without Faust or a broker.

Run: ``python -m bench.step_cost [--events N] [--bare-us US] [--mix synthetic|live]``.

``bench.throughput`` compares the whole worker with a bare Faust agent. This harness shows
what the worker's own work costs per event, so the ratio it may reach is known: with a bare
agent that spends ``B`` µs per event and worker code that adds ``W`` µs, full / bare can be
at most ``B / (B + W)`` even if Faust itself cost the worker nothing more than the bare agent.

The same synthetic events as ``bench.throughput`` (``--events`` of them, as JSON bytes) go
through cumulative stages, each timed over all events in one loop, in this one process:

1. ``decode``: ``orjson.loads`` (all the bare agent does with a value);
2. ``validate``: ``parse_event`` (decode + the event contract);
3. ``state``: + load the user's state from a dict table, ``apply_event``, save it back;
4. ``row``: + the ``user_profiles`` row (``streams.runtime.outputs.profile_row``), i.e.
   profiles + sink without I/O;
5. ``step``: ``parse_event`` + load + the lifecycle step (``engine.on_event``: churn scoring,
   snapshots, win-back policy, segments) + save + row, with a model bundle first trained
   on one pass over the same events (as a running trainer would have). The worker also
   re-assesses silent users the watermark made due; that is not included, so the step's cost
   is a lower bound.

Each stage is run ``--repeat`` times; the fastest run is printed (the least disturbed by
other processes). ``--bare-us`` (default: the 72 µs measured on an idle machine of this
kind, see README) gives the bound for each stage.

Then the serialized state per user (``UserState.to_bytes``, what one changelog record of the
user costs) after the full step: for the synthetic users (typical) and for one heavy user
with ``--heavy-events`` events in one day (a busy shopper whose app retries batches).
"""

from __future__ import annotations

import argparse
import itertools
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402

from online_models.bundle import ModelBundle  # noqa: E402
from online_models.contract import Event, parse_event  # noqa: E402
from online_models.engine import Emits, EngineConfig, on_event  # noqa: E402
from online_models.profile import UserState, apply_event  # noqa: E402
from streams.data.datasets import synthetic_events  # noqa: E402
from streams.runtime.outputs import profile_row  # noqa: E402

SKEW = 86_400.0


def _parse(value: bytes) -> Event:
    parsed = parse_event(value, now=time.time(), max_future_skew_s=SKEW)
    if not isinstance(parsed, Event):
        raise ValueError(f"synthetic event rejected: {parsed}")
    return parsed


def _step(value: bytes, offset: int, table: dict[str, Any], bundle: ModelBundle,
          config: EngineConfig) -> tuple[str, UserState, Emits]:
    """Parse, load the state, the lifecycle step, save the state (as the worker does)."""
    event = _parse(value)
    s = UserState.from_dict(table.get(event.user_id))
    out = on_event(event.user_id, s, event, models=bundle, config=config, offset=offset)
    table[event.user_id] = s.to_dict()
    return event.user_id, s, out


def stages(config: EngineConfig, bundle: ModelBundle) -> dict[str, Callable[..., None]]:
    """One per-event function per stage: ``f(value, offset, table)``."""

    def decode(value: bytes, offset: int, table: dict[str, Any]) -> None:
        orjson.loads(value)

    def validate(value: bytes, offset: int, table: dict[str, Any]) -> None:
        _parse(value)

    def state(value: bytes, offset: int, table: dict[str, Any]) -> tuple[str, UserState]:
        event = _parse(value)
        s = UserState.from_dict(table.get(event.user_id))
        apply_event(s, event, config.profile, offset=offset)
        table[event.user_id] = s.to_dict()
        return event.user_id, s

    def row(value: bytes, offset: int, table: dict[str, Any]) -> None:
        profile_row(*state(value, offset, table))

    def step(value: bytes, offset: int, table: dict[str, Any]) -> None:
        user_id, s, _ = _step(value, offset, table, bundle, config)
        profile_row(user_id, s)

    return {"decode": decode, "validate": validate, "state": state, "row": row, "step": step}


def trained_bundle(values: list[bytes], config: EngineConfig) -> ModelBundle:
    """A bundle that learned every training example one pass over ``values`` produced."""
    bundle, table = ModelBundle(interest_k=config.interest_k), {}
    for offset, value in enumerate(values):
        _, _, out = _step(value, offset, table, bundle, config)
        for ex in out.training:
            bundle.learn(ex)
    return ModelBundle.from_snapshot(bundle.snapshot())


def time_stage(fn: Callable[..., Any], values: list[bytes], repeat: int) -> float:
    """Fastest of ``repeat`` runs, in µs per event (a fresh table each run)."""
    best = float("inf")
    for _ in range(repeat):
        table: dict[str, Any] = {}
        start = time.perf_counter()
        for offset, value in enumerate(values):
            fn(value, offset, table)
        best = min(best, time.perf_counter() - start)
    return best / len(values) * 1e6


def heavy_user_values(n: int, *, start: float = 1_767_225_600.0,
                      hours: float = 24.0) -> list[bytes]:
    """``n`` events of one user spread evenly over ``hours`` (views, searches, carts, buys).

    >>> [orjson.loads(v)["type"] for v in heavy_user_values(4)]
    ['view', 'search', 'view', 'add_to_cart']
    """
    kinds = ["view", "search", "view", "add_to_cart", "view", "view", "purchase", "view"]
    step = hours * 3600.0 / max(n, 1)
    return [orjson.dumps({
        "event_id": f"heavy-{i:06d}-{(i * 2_654_435_761) % 2**32:08x}", "user_id": "heavy-u-1",
        "type": kinds[i % len(kinds)], "ts": start + i * step, "item_id": f"sku-{i % 97}",
        "category": f"cat-{i % 9}", "price": 25.0 if kinds[i % len(kinds)] == "purchase" else None,
        "session_id": f"heavy-s-{int(i * step // 1800)}",
    }) for i in range(n)]


def state_bytes(values: list[bytes], bundle: ModelBundle, config: EngineConfig) -> list[int]:
    """Serialized bytes of every user's state after the full step over ``values``."""
    table: dict[str, Any] = {}
    for offset, value in enumerate(values):
        _step(value, offset, table, bundle, config)
    return [len(UserState.from_dict(raw).to_bytes()) for raw in table.values()]


def print_state_bytes(name: str, sizes: list[int]) -> None:
    """One line: mean, p95 and max serialized bytes per user."""
    ordered = sorted(sizes)
    p95 = ordered[min(len(ordered) - 1, max(0, -(-95 * len(ordered) // 100) - 1))]
    print(f"state bytes/user {name:<8} ({len(sizes):,} users): mean "
          f"{sum(sizes) / len(sizes):,.0f}, p95 {p95:,}, max {ordered[-1]:,}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--heavy-events", type=int, default=2000,
                        help="events of the heavy user, all in one day (default 2000)")
    parser.add_argument("--mix", choices=["synthetic", "live"], default="synthetic",
                        help="synthetic_events (1 user per 100 events, 120 days) or the "
                             "live mix of bench.throughput (bench/live_mix.py, 100,000 users)")
    parser.add_argument("--bare-us", type=float, default=72.0,
                        help="the bare Faust agent's cost per event, µs (default 72)")
    args = parser.parse_args(argv)
    if args.events < 1 or args.repeat < 1 or args.bare_us <= 0 or args.heavy_events < 1:
        parser.error("need --events >= 1, --repeat >= 1, --heavy-events >= 1, --bare-us > 0")
    if args.mix == "live":
        from bench.live_mix import live_mix

        events = live_mix(100_000, args.events)
        users = len({e["user_id"] for e in events})
    else:
        users = max(50, args.events // 100)
        events = list(itertools.islice(synthetic_events(users=users, days=120), args.events))
    values = [orjson.dumps(e) for e in events]
    config = EngineConfig()
    start = time.perf_counter()
    bundle = trained_bundle(values, config)
    print(f"{len(values):,} {args.mix} events ({users:,} users); bundle trained in "
          f"{time.perf_counter() - start:.1f}s ({sum(bundle.counts.values()):,} examples)")
    decode_us = None
    print(f"{'stage':<10} {'µs/event':>9} {'added by worker':>16} {'bound full/bare':>16}")
    for name, fn in stages(config, bundle).items():
        us = time_stage(fn, values, args.repeat)
        decode_us = us if decode_us is None else decode_us
        added = us - decode_us
        bound = args.bare_us / (args.bare_us + added)
        print(f"{name:<10} {us:9.1f} {added:16.1f} {bound:16.2f}")
    print(f"bound = bare / (bare + added), bare = {args.bare_us:g} µs/event; the 0.8 target "
          f"leaves {args.bare_us / 0.8 - args.bare_us:.1f} µs for everything the worker adds")
    print_state_bytes("typical", state_bytes(values, bundle, config))
    print_state_bytes("heavy", state_bytes(heavy_user_values(args.heavy_events), bundle, config))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
