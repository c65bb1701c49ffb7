"""Where the CDNOW replay's time goes: looks at silent users by cause, and time per part.

Run: ``python -m bench.silent_looks [--every N] [--root PATH]`` (no broker, no database).

One pass over the CDNOW master log (real data; ``--every N`` keeps every N-th customer's
whole history) through the worker's pure path in this process, as ``bench/cdnow_cuts.py``'s
:class:`~bench.cdnow_cuts.Replay` does it (every event applied by ``engine.on_event``, every
user due by the watermark re-assessed by ``engine.on_tick``, the training examples learned by
one trainer that publishes a snapshot every 2,000 examples), then the watermark moves to the
end of the data (1998-07-01) and the due users are caught up. No operator rescore.

Each look at a silent user (``on_tick``) is counted by the cause of its due time, read from
the state before the look: ``label`` (the oldest pending label resolves then),
``boundary`` (a lifecycle boundary of the last assessment), else ``rescore``; ``event`` is an
``on_event`` call. Printed: looks and seconds per cause (the engine step, state decoding and
encoding included), the trainer's ``learn`` and the snapshot publishing (trainer
``snapshot`` + scorer ``from_snapshot``), and the wall time of the whole replay.

``--root`` runs another checkout's code with this file (e.g. the main branch in a detached
worktree), for a before/after comparison in one run on one machine.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time
from typing import Any


def main(argv: list[str] | None = None) -> None:
    """Replay CDNOW, print looks and seconds by cause."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--every", type=int, default=1, help="every N-th CDNOW customer")
    parser.add_argument("--root", default=None, help="checkout whose code to run")
    args = parser.parse_args(argv)
    if args.root:
        sys.path.insert(0, args.root)
        for name in [m for m in sys.modules if m.split(".")[0] in ("bench", "online_models",
                                                                    "streams")]:
            del sys.modules[name]
    from datetime import date

    import bench.cdnow_cuts as cuts
    from online_models.bundle import ModelBundle
    from online_models.engine import EngineConfig
    from online_models.labels import next_label_due
    from online_models.lifecycle import next_boundary
    from online_models.profile import UserState
    from streams.data.datasets import cdnow_events

    config = EngineConfig()
    looks: collections.Counter[str] = collections.Counter()
    secs: collections.Counter[str] = collections.Counter()
    real_tick, real_event = cuts.on_tick, cuts.on_event
    real_from_dict, real_to_dict = UserState.from_dict, UserState.to_dict
    real_learn, real_publish = ModelBundle.learn, cuts.Replay.publish
    codec = [0.0]

    def cause(state: UserState) -> str:
        due = state.due
        label = next_label_due(state, horizon_days=config.horizon_days)
        last = state.lifecycle_evaluated_at
        boundary = None if last is None else next_boundary(state, float(last),
                                                           config.lifecycle)
        if label is not None and int(label + 1.0) == due:
            return "label"
        if boundary is not None and int(boundary) == due:
            return "boundary"
        return "rescore"

    def on_tick(user_id: str, state: UserState, **kw: Any) -> Any:
        why = cause(state)
        t0 = time.perf_counter()
        out = real_tick(user_id, state, **kw)
        looks[why] += 1
        secs[why] += time.perf_counter() - t0
        return out

    def on_event(*a: Any, **kw: Any) -> Any:
        t0 = time.perf_counter()
        out = real_event(*a, **kw)
        looks["event"] += 1
        secs["event"] += time.perf_counter() - t0
        return out

    def from_dict(d: Any) -> UserState:
        t0 = time.perf_counter()
        out = real_from_dict(d)
        codec[0] += time.perf_counter() - t0
        return out

    def to_dict(self: UserState) -> dict[str, Any]:
        t0 = time.perf_counter()
        out = real_to_dict(self)
        codec[0] += time.perf_counter() - t0
        return out

    def learn(self: ModelBundle, ex: Any) -> bool:
        t0 = time.perf_counter()
        out = real_learn(self, ex)
        secs["trainer learn"] += time.perf_counter() - t0
        looks["trainer learn"] += 1
        return out

    def publish(self: Any) -> None:
        t0 = time.perf_counter()
        real_publish(self)
        secs["publish"] += time.perf_counter() - t0
        looks["publish"] += 1

    cuts.on_tick, cuts.on_event = on_tick, on_event  # type: ignore[assignment]
    UserState.from_dict = staticmethod(from_dict)  # type: ignore[assignment,method-assign]
    UserState.to_dict = to_dict  # type: ignore[method-assign]
    ModelBundle.learn = learn  # type: ignore[method-assign]
    cuts.Replay.publish = publish  # type: ignore[method-assign]
    events = cuts.parsed_events(list(cdnow_events(every=args.every)))
    replay = cuts.Replay(config)
    started = time.perf_counter()
    for event in events:
        replay.apply(event)
    replay.watermark = cuts._midnight_after(date(1998, 6, 30))
    replay.catch_up()
    wall = time.perf_counter() - started
    # The trainer learns inside the looks (Replay._keep): report the engine net of it.
    print(f"root {args.root or '.'}: every {args.every}, {len(events):,} events, "
          f"{len(replay.states):,} users, wall {wall:.1f} s, {replay.published} snapshots, "
          f"{replay.ticks:,} looks at silent users")
    for name in ("event", "label", "rescore", "boundary", "trainer learn", "publish"):
        n, s = looks[name], secs[name]
        print(f"  {name:<14} {n:>9,d} calls {s:8.1f} s {s / max(n, 1) * 1e6:8.0f} us/call")
    print(f"  state from_dict/to_dict {codec[0]:.1f} s (inside the looks and the replay); "
          f"the rest (schedule, replay loop) "
          f"{wall - sum(v for k, v in secs.items()) - codec[0]:.1f} s")


if __name__ == "__main__":
    main()
