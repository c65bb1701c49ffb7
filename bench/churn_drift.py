"""Churn drift on SYNTHETIC data: does the champion switch, and how soon does the served AUC
recover?

Run: ``python -m bench.churn_drift [--users 2000] [--days 240] [--drift-day 150]
[--horizon-days 30] [--block 500] [--seed 7]`` (no broker, no database; a few minutes).

The synthetic clickstream (``streams.data.datasets.synthetic_events``) with ``drift_day``: from
that day on most price-sensitive users leave abruptly (no fading sessions, no bad reviews
first), a churn mechanism the learner has not seen (see ``streams.data.synthetic``). The
events go through the worker's pure step and the one trainer in this process
(``bench.cdnow_cuts.Replay``: ``engine.on_event`` / ``on_tick``, ``ModelBundle.learn``,
snapshots every ``--snapshot-examples``).

For every resolved churn label the bench records the probability that was *served* for it:
the score of the candidate serving when its features were taken, with that time's models
(``ModelBundle.asof``: exactly what the workers alerted on). Printed: the served ROC AUC per
block of ``--block`` labels (by label resolution order) with the candidate serving most in
the block, the champion's switches, and the labels from the first block whose snapshots
were taken after the drift until the served AUC is back within 0.02 of its mean over the
last three blocks before the drift.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.cdnow_cuts import Replay, exact_auc, parsed_events  # noqa: E402
from online_models.candidates import candidate_scores  # noqa: E402
from online_models.engine import Emits, EngineConfig  # noqa: E402
from online_models.profile import DAY  # noqa: E402
from online_models.training import ChurnLabel  # noqa: E402


class ServedReplay(Replay):
    """A replay that records, per churn label, the served probability and who served."""

    served: list[tuple[float, float, int, str]]  # (snapshot time, served p, label, serving)

    def _train(self, out: Emits) -> None:
        for ex in out.training:
            if isinstance(ex, ChurnLabel):
                self._record(ex)
        super()._train(out)

    def _record(self, ex: ChurnLabel) -> None:
        b = self.trainer
        t = float(ex.taken_at or 0.0)
        cp = b.asof.at(t)
        if cp is None:
            p, who = b.champion.serve(b.scores(ex.features)), b.champion.serving
        else:
            scores = candidate_scores(ex.features, params=cp.params,
                                      horizon_days=b.horizon_days, learner=cp.learner)
            p = b.champion.serve(scores, serving=cp.serving, stack_w=cp.stack_w,
                                 platt=cp.platt)
            who = cp.serving
        self.served.append((t, p, ex.label, who))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=240)
    parser.add_argument("--drift-day", type=int, default=150)
    parser.add_argument("--horizon-days", type=float, default=30.0)
    parser.add_argument("--block", type=int, default=500)
    parser.add_argument("--snapshot-examples", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)

    from streams.data.datasets import synthetic_events

    started = time.perf_counter()
    events = parsed_events(list(synthetic_events(users=args.users, days=args.days,
                                                 seed=args.seed, drift_day=args.drift_day)))
    first_day = min(e.ts for e in events)
    drift_at = first_day - first_day % DAY + args.drift_day * DAY
    replay = ServedReplay(EngineConfig(horizon_days=args.horizon_days), args.snapshot_examples)
    replay.served = []
    for e in events:
        replay.apply(e)
    print(f"SYNTHETIC, {args.users} users, {args.days} days, drift on day {args.drift_day}, "
          f"churn horizon {args.horizon_days:g} days: {len(events):,} events, "
          f"{len(replay.served):,} labels, {replay.published} snapshots "
          f"({time.perf_counter() - started:.0f}s)")
    print(f"{'labels':>13} {'snapshot days':>13} {'served AUC':>10} {'base':>5}  serving")
    blocks = []
    for i in range(0, len(replay.served) - args.block + 1, args.block):
        chunk = replay.served[i:i + args.block]
        t, p, y, who = zip(*chunk, strict=True)
        auc = exact_auc(np.array(p), np.array(y))
        lo, hi = (min(t) - first_day) / DAY, (max(t) - first_day) / DAY
        top = Counter(who).most_common(1)[0][0]
        first_after = min(t) >= drift_at and (not blocks or blocks[-1][2] < drift_at)
        blocks.append((i, auc, min(t), top))
        mark = "  <- snapshots from the drift on" if first_after else ""
        print(f"{i:>6}-{i + args.block:<6} {lo:>5.0f}-{hi:<7.0f} {auc:>10.4f} "
              f"{np.mean(y):>5.2f}  {top}{mark}")
    history = replay.trainer.champion.history
    print("champion switches:", [(h["label"], h["from"], h["to"], h["reason"]) for h in history])
    before = [b for b in blocks if b[2] < drift_at - args.horizon_days * DAY][-3:]
    after = [b for b in blocks if b[2] >= drift_at]
    if before and after:
        level = float(np.mean([b[1] for b in before]))
        worst = min(after, key=lambda b: b[1])
        back = next((b for b in after if b[0] > worst[0] and b[1] >= level - 0.02), None)
        print(f"served AUC before the drift {level:.4f}; lowest after {worst[1]:.4f} "
              f"(labels {worst[0]}-{worst[0] + args.block}); "
              + (f"back within 0.02 at labels {back[0]}-{back[0] + args.block}: "
                 f"{back[0] - after[0][0] + args.block} labels after the first post-drift "
                 f"snapshot's label" if back else "not back within 0.02 by the end"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
