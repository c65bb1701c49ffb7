"""Value segments on CDNOW without a broker: the RFM learner's sampling, replayed offline.

Real data (CDNOW, from the ``lifetimes`` wheel; nothing is downloaded). A few seconds instead
of the minutes of ``bench.segments``, which replays the same purchases through Tansu, a
worker, the trainer and PostgreSQL; use this one to study the scorer, that one for the
numbers of the whole pipeline.

What it mirrors (``online_models/engine.py`` + ``bundle.py``): every purchase assesses its
buyer, and a buyer is re-assessed every ``--rescore-days`` of event time (x4 once the last
purchase is ``--churned-days`` old). An assessment sends the buyer's raw RFM to the learner
at most once per ``--rescore-days``, with its event time and the days since the buyer's
previous sample (``span``); the learner sees the samples in time order. At the end of the
cut day every customer is scored with the final learner (``RFMScorer.value_segment``). What
it leaves out: the churn model, late snapshots (workers score with the newest published
snapshot, the trainer may lag) and segments computed at a customer's last assessment
instead of at the cut.

Printed: per value segment its size and the share of its customers who buy again in
``(cut, cut + --horizon-weeks]``, and the Spearman correlation with the quality order of
``bench.segments`` (+1 = shares fall exactly from best to worst).

Run: ``python -m bench.rfm_cdnow [--cut 1997-09-30] [--horizon-weeks 39]
[--halflife-days 30 | --no-decay]``.
"""

from __future__ import annotations

import argparse
import heapq
import time
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

from online_models.contract import parse_ts
from online_models.profile import DAY
from online_models.rfm import RFMScorer

Purchase = tuple[float, str, float]  # (event time, user id, amount)


def load_purchases() -> list[Purchase]:
    """Every CDNOW purchase as ``(ts, user_id, amount)``, in time order.

    >>> load_purchases()[0]
    (852120000.0, 'cdnow-1', 11.77)
    """
    from streams.data.datasets import cdnow_events

    rows = [(parse_ts(e["ts"]), str(e["user_id"]), float(e["price"]) * int(e["quantity"]))
            for e in cdnow_events()]
    return sorted(rows, key=lambda row: row[0])


def replay(purchases: Sequence[Purchase], rfm: RFMScorer, *, end: float, rescore_days: float = 7.0,
           churned_days: float = 90.0) -> dict[str, tuple[float, float, float]]:
    """Teach ``rfm`` the engine's samples of purchases before ``end``; raw RFM at ``end``.

    Examples
    --------
    >>> rows = [(0.0, "a", 10.0), (3 * DAY, "b", 5.0), (20 * DAY, "a", 7.0)]
    >>> rfm = RFMScorer(min_samples=1)
    >>> replay(rows, rfm, end=30 * DAY)
    {'a': (10.0, 2.0, 17.0), 'b': (27.0, 1.0, 5.0)}
    >>> rfm.n  # a: days 0, 7, 14, 20, 27; b: days 3, 10, 17, 24
    9
    """
    # user -> [purchases, revenue, last purchase, last sample, last assessment]
    users: dict[str, list[float]] = {}
    due: list[tuple[float, str]] = []

    def assess(user: str, at: float) -> None:
        s = users[user]
        s[4] = at
        if at - s[3] >= rescore_days * DAY:
            span = (at - s[3]) / DAY if s[3] > -1e17 else rescore_days
            s[3] = at
            rfm.learn_one(max(0.0, at - s[2]) / DAY, s[0], s[1], at=at, span=span)
        churned = at - s[2] >= churned_days * DAY
        heapq.heappush(due, (at + rescore_days * DAY * (4 if churned else 1), user))

    def advance(to: float) -> None:
        while due and due[0][0] <= to:
            at, user = heapq.heappop(due)
            if users[user][4] < at:  # not assessed since this was scheduled
                assess(user, at)

    for ts, user, amount in purchases:
        if ts >= end:
            break
        advance(ts)
        s = users.setdefault(user, [0.0, 0.0, ts, -1e18, ts])
        s[0], s[1], s[2] = s[0] + 1, s[1] + amount, ts
        assess(user, ts)
    advance(end)
    return {u: (max(0.0, end - s[2]) / DAY, s[0], s[1]) for u, s in users.items()}


def main(argv: list[str] | None = None) -> None:
    """Parse arguments, replay CDNOW to the cut, print the segment table.

    Examples
    --------
    >>> main(["--cut", "1997-01-31", "--horizon-weeks", "4"])  # doctest: +ELLIPSIS
    === REAL DATA: CDNOW ...
    """
    from bench.segments import QUALITY_ORDER, print_table, segment_table, spearman

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut", type=date.fromisoformat, default=date(1997, 9, 30))
    parser.add_argument("--horizon-weeks", type=int, default=39)
    parser.add_argument("--rescore-days", type=float, default=7.0)
    parser.add_argument("--churned-days", type=float, default=90.0)
    parser.add_argument("--halflife-days", type=float, default=30.0)
    parser.add_argument("--no-decay", action="store_true", help="never forget samples")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    purchases = load_purchases()
    end = datetime.combine(args.cut + timedelta(days=1), datetime.min.time(), UTC).timestamp()
    rfm = RFMScorer(halflife_days=None if args.no_decay else args.halflife_days)
    raw = replay(purchases, rfm, end=end, rescore_days=args.rescore_days,
                 churned_days=args.churned_days)
    returned = {u for ts, u, _ in purchases if end <= ts < end + args.horizon_weeks * 7 * DAY}
    rows = [(u, rfm.value_segment(*x)) for u, x in sorted(raw.items())]
    table = segment_table(rows, returned, QUALITY_ORDER)
    rho, used = spearman(table, QUALITY_ORDER)
    print("=== REAL DATA: CDNOW value segments at the cut vs buying again (offline replay of "
          "the RFM sampling, no broker) ===")
    print(f"cut {args.cut}, bought again in the next {args.horizon_weeks} weeks; customers "
          f"{len(raw):,}, overall return share {len(returned & raw.keys()) / max(len(raw), 1):.3f};"
          f" half-life {'none' if args.no_decay else args.halflife_days} days; {rfm.n:,} samples")
    for name in ("r", "f", "m"):
        print(f"  {name} class boundaries: {[round(c, 2) for c in rfm.cut_points(name) or []]}")
    print_table("value segments, best to worst:", table)
    print(f"Spearman rank correlation, quality order vs return share ({used} non-empty "
          f"segments): rho = {rho:.3f}; {time.perf_counter() - started:.1f}s")


if __name__ == "__main__":
    main()
