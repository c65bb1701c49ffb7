"""Proof on data: do Lifeline's value segments on CDNOW rank customers by who buys again?

Run: ``python -m bench.segments [--cut 1997-09-30] [--horizon-weeks 39] [--partitions 4]
[--skip-synthetic]`` (same requirements as ``bench/cdnow.py``).

Real part (CDNOW)
-----------------
``bench.cdnow.replay_to_cut`` replays the CDNOW master log through Tansu + one worker +
PostgreSQL up to the cut (events on days <= cut) and moves every partition's watermark to the
end of the cut day with one clock event per partition (see ``bench/cdnow.py``). Then, per
value segment (``user_profiles.value_segment`` of every ``cdnow-*`` customer), it prints the
segment's size and the share of its customers who buy again in ``(cut, cut + H weeks]``
(H = ``--horizon-weeks``, default 39: the standard CDNOW holdout to 1998-06-30), and the
lifecycle segment sizes with their return shares.

Quality order (best to worst) of the value segments, from the R x F grid of
``online_models/rfm.py`` (R = recency score, F = frequency score, 5 best)::

    champions (R5 F4-5), loyal (R3-4 F4-5), potential (R4-5 F2-3), new_customers (R5 F1),
    promising (R4 F1), need_attention (R3 F3), about_to_sleep (R3 F1-2),
    cant_lose (R1-2 F5), at_risk (R1-2 F3-4), hibernating (R1-2 F1-2 except R1 F1), lost (R1 F1)

The order is recency-major, frequency-minor: first the recent rows of the grid (R >= 4,
plus loyal, mostly R4), within them the frequent before the one-off buyers; then the R = 3
row; then the lapsed rows (R <= 2) by decreasing frequency, ``lost`` last. Recency first
because in buy-till-you-die models (BG/NBD) a long silence is the strongest evidence that a
customer has dropped out, whatever their past frequency; among equally recent customers a
higher purchase rate means more future purchases. ``cant_lose`` is placed above ``at_risk``
because, at equal lapse, more past purchases mean a higher chance of still being alive.
Agreement is measured by the Spearman rank correlation between this order and the observed
return shares (``scipy.stats.spearmanr``; printed so that +1 = the segments' return shares
are in exactly this order; only non-empty segments count).

Synthetic part
--------------
Clearly labelled SYNTHETIC: ``bench.segments_synthetic.main`` (interest clusters vs planted
groups, recommendations vs popularity, segment sizes; in-process, no broker). Skip it with
``--skip-synthetic``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.cdnow import (  # noqa: E402
    CDNOW_PREFIX,
    DEFAULT_CUT,
    CutReplay,
    load_cdnow,
    replay_to_cut,
    returned_after,
)
from bench.harness import exit_cleanly_on_sigterm  # noqa: E402

QUALITY_ORDER: tuple[str, ...] = (
    "champions", "loyal", "potential", "new_customers", "promising", "need_attention",
    "about_to_sleep", "cant_lose", "at_risk", "hibernating", "lost",
)  # fmt: skip
LIFECYCLE_ORDER: tuple[str, ...] = (
    "prospect", "new", "reactivated", "active", "at_risk", "churned",
)  # fmt: skip


def _check_order() -> None:
    from online_models.rfm import VALUE_SEGMENTS

    if set(QUALITY_ORDER) != set(VALUE_SEGMENTS):
        raise RuntimeError(f"segment names changed: {sorted(VALUE_SEGMENTS)}")


def segment_table(rows: Sequence[tuple[str, str | None]], returned: set[str],
                  order: Sequence[str]) -> list[tuple[str, int, float]]:
    """``(segment, size, return share)`` per segment in ``order`` (others, None last)."""
    sizes: dict[str | None, int] = {}
    back: dict[str | None, int] = {}
    for user, segment in rows:
        sizes[segment] = sizes.get(segment, 0) + 1
        back[segment] = back.get(segment, 0) + (user in returned)
    names: list[str | None] = [*order, *sorted(s for s in sizes if s and s not in order)]
    if None in sizes:
        names.append(None)
    return [(str(s), sizes.get(s, 0), back.get(s, 0) / sizes[s] if sizes.get(s) else float("nan"))
            for s in names]


def spearman(table: Sequence[tuple[str, int, float]], order: Sequence[str]) -> tuple[float, int]:
    """Spearman rho between ``order`` (best first) and return shares; +1 = same order."""
    from scipy.stats import spearmanr

    ranked = [(order.index(s), share) for s, n, share in table if s in order and n > 0]
    if len(ranked) < 3:
        return float("nan"), len(ranked)
    rho = spearmanr([-rank for rank, _ in ranked], [share for _, share in ranked]).statistic
    return float(rho), len(ranked)


def print_table(title: str, table: Sequence[tuple[str, int, float]]) -> None:
    total = sum(n for _, n, _ in table)
    print(title)
    print(f"  {'segment':<16} {'customers':>9} {'share':>7} {'bought again':>13}")
    for name, n, share in table:
        shown = "-" if n == 0 else f"{share:.3f}"
        print(f"  {name:<16} {n:>9,} {n / max(total, 1):>7.1%} {shown:>13}")


def report(run: CutReplay, events: Sequence[Mapping[str, Any]], weeks: int) -> float:
    """Print the real-data segment tables; returns the value segments' Spearman rho."""
    dep = run.deployment
    returned = returned_after(events, run.cut, weeks)
    customers = {str(e["user_id"]) for e in events if e["type"] == "purchase"
                 and date.fromisoformat(str(e["ts"])[:10]) <= run.cut}
    rows = dep.query("SELECT user_id, value_segment, lifecycle FROM user_profiles "
                     "WHERE user_id LIKE %s", (CDNOW_PREFIX + "%",))
    seen = {str(u) for u, _, _ in rows}
    value = segment_table([(str(u), v) for u, v, _ in rows], returned, QUALITY_ORDER)
    lifecycle = segment_table([(str(u), lc) for u, _, lc in rows], returned, LIFECYCLE_ORDER)
    memberships = dict(dep.query(
        "SELECT segment, count(*) FROM segment_memberships WHERE dimension = 'value' "
        "AND user_id LIKE %s GROUP BY segment", (CDNOW_PREFIX + "%",)))
    mismatch = sum(abs(memberships.get(s, 0) - n) for s, n, _ in value if s != "None")
    rho, used = spearman(value, QUALITY_ORDER)
    end = run.cut + timedelta(weeks=weeks)

    print()
    print("=== REAL DATA: CDNOW value segments at the cut vs buying again ===")
    print(f"cut {run.cut} (watermarks at {run.cut_end:%Y-%m-%dT%H:%M:%SZ}); bought again = any "
          f"purchase in ({run.cut}, {end}] ({weeks} weeks); customers {len(customers):,}, "
          f"with a profile row {len(seen & customers):,}, overall return share "
          f"{len(returned & customers) / max(len(customers), 1):.3f}")
    print(f"replay: worker start -> quiescent database {run.replay_seconds:.1f}s; "
          f"{run.published:,} events")
    print_table("value segments (user_profiles.value_segment), best to worst:", value)
    print(f"  segment_memberships(dimension='value') differs from user_profiles by "
          f"{mismatch} rows")
    print(f"Spearman rank correlation, quality order vs return share ({used} non-empty "
          f"segments): rho = {rho:.3f}  (+1 = return shares fall exactly in the order)")
    print_table("lifecycle segments (user_profiles.lifecycle):", lifecycle)
    return rho


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut", type=date.fromisoformat, default=date.fromisoformat(DEFAULT_CUT),
                        help=f"last calibration day (default {DEFAULT_CUT})")
    parser.add_argument("--horizon-weeks", type=int, default=39)
    parser.add_argument("--churn-horizon-days", type=float, default=90.0)
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--quiet", type=float, default=10.0)
    parser.add_argument("--skip-synthetic", action="store_true",
                        help="do not run the SYNTHETIC part (bench.segments_synthetic)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    exit_cleanly_on_sigterm()
    _check_order()
    t0 = time.perf_counter()
    events = load_cdnow()
    with replay_to_cut(args.cut, partitions=args.partitions,
                       churn_horizon_days=args.churn_horizon_days, quiet=args.quiet,
                       events=events) as run:
        report(run, events, args.horizon_weeks)
    if not args.skip_synthetic:
        from bench import segments_synthetic

        print()
        print("=== SYNTHETIC (bench.segments_synthetic, default arguments) ===")
        segments_synthetic.main([])
    print(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
