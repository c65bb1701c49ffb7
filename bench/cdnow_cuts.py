"""CDNOW at every cut, one replay: Lifeline's churn risk vs BG/NBD (lifetimes) and recency.

Run: ``python -m bench.cdnow --every-cut [--cuts 1997-04-15,1997-08-20]
[--churn-horizon-days 90] [--snapshot-examples 2000] [--ceiling]`` (no broker, no database;
~minutes).

Method
------
One pass over the CDNOW master log (``streams.datasets.cdnow_events``, real data) through the
worker's own pure code path, in this process, as one partition: every event is validated by
``contract.parse_event`` and applied by ``engine.on_event`` to the user's state (stored as the
worker stores it, ``UserState.to_dict`` / ``from_dict``), then every user due by the watermark
is re-assessed by ``engine.on_tick`` (``schedule.DueSchedule``, as ``catch_up`` does). The
training examples go, in order, to one trainer ``ModelBundle.learn``; every
``--snapshot-examples`` learned examples the trainer publishes ``snapshot()`` and the scorer
swaps in ``ModelBundle.from_snapshot`` (the worker has no lag behind the trainer here; in a
deployment it scores with the newest snapshot the trainer has published).

At each cut (default: every month end 1997-03-31 .. 1998-03-31; ``--cuts`` for others), after
every event of the cut day, the trainer publishes if it learned anything new, then the
operator's rescore runs with that one model version (the trainer publishes its next snapshot
once the rescore is done; in a deployment a snapshot may land in the middle of a rescore and
part of the users would be scored by the next version): the watermark moves to midnight
after the cut day, due users are caught up and then *every* user is re-assessed with
``on_tick`` (what ``python -m streams rescore --at`` makes each worker do). Everyone's
``churn_risk`` is read from the state. The replay then continues from the same states, to the
next cut.

Per cut, over every customer with a purchase by the cut: exact ROC AUC (Mann-Whitney, ties
half) of "no purchase in the next 13 weeks" and "... 26 weeks" (26 only when the data reach
cut + 26 weeks) for Lifeline's ``churn_risk``, for ``lifetimes.BetaGeoFitter`` fitted on the
calibration data to the cut (``-E[purchases in the next 13 / 26 weeks]``, weeks at day
resolution, as ``bench.cdnow``) and for recency alone (days since the last purchase); the log
loss of ``churn_risk`` vs the 13-week target (and of the constant base rate); the candidate
that served, its window AUC and the fitted BG/NBD parameters in the bundle.

With ``--ceiling``, also a *hindsight* reference per cut (``bench/hindsight.py``): every
scored customer's learner inputs (``learner_inputs`` of his churn features at the rescore,
with the served bundle's fitted BG/NBD parameters and the churn horizon: what the online
learner reads), standardised, and a logistic regression fitted by 5-fold cross-validation
(stratified, seed 0) *on that cut's own 13 / 26-week outcomes*; the ROC AUC of its
out-of-fold predictions. It is fitted on the outcomes it is scored on, so it is not a model
anyone could deploy: it is about the best ranking a linear function of the learner's inputs
can give at that cut, a ceiling for the learner's gain over BG/NBD.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import numpy as np
import orjson

from online_models.bundle import ModelBundle
from online_models.contract import Event, parse_event
from online_models.engine import Emits, EngineConfig, on_event, on_tick
from online_models.profile import UserState
from online_models.schedule import DueSchedule

DATA_END = date(1998, 6, 30)
SKEW = 86_400.0


def month_ends(first: date = date(1997, 3, 31), last: date = date(1998, 3, 31)) -> list[date]:
    """Every month end from ``first`` to ``last``.

    >>> [str(d) for d in month_ends(date(1997, 3, 31), date(1997, 5, 31))]
    ['1997-03-31', '1997-04-30', '1997-05-31']
    """
    out, d = [], first
    while d <= last:
        out.append(d)
        nxt = date(d.year + d.month // 12, d.month % 12 + 1, 1)
        d = date(nxt.year + nxt.month // 12, nxt.month % 12 + 1, 1) - timedelta(days=1)
    return out


def _midnight_after(cut: date) -> float:
    return datetime.combine(cut + timedelta(days=1), datetime.min.time(), UTC).timestamp()


@dataclass
class Replay:
    """The worker's pure step and the one trainer, driven in event order in this process."""

    config: EngineConfig
    snapshot_examples: int = 2000
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    schedule: DueSchedule = field(default_factory=DueSchedule)
    watermark: float = 0.0
    fresh: int = 0
    published: int = 0
    ticks: int = 0
    hold: bool = False  # no snapshot while the operator's rescore runs

    def __post_init__(self) -> None:
        self.trainer = ModelBundle(interest_k=self.config.interest_k,
                                   horizon_days=self.config.horizon_days)
        self.scorer = ModelBundle.from_snapshot(self.trainer.snapshot())

    def publish(self) -> None:
        self.scorer = ModelBundle.from_snapshot(self.trainer.snapshot())
        self.fresh, self.published = 0, self.published + 1

    def _train(self, out: Emits) -> None:
        for ex in out.training:
            self.fresh += self.trainer.learn(ex)
        if self.fresh >= self.snapshot_examples and not self.hold:
            self.publish()

    def _keep(self, user_id: str, state: UserState, out: Emits) -> None:
        if out.due is None:
            self.schedule.unschedule(user_id)
        else:
            self.schedule.schedule(user_id, out.due)
        self.states[user_id] = state.to_dict()
        self._train(out)

    def _reassess(self, users: Sequence[str]) -> None:
        for user_id in users:
            state = UserState.from_dict(self.states[user_id])
            out = on_tick(user_id, state, watermark=self.watermark, models=self.scorer,
                          config=self.config)
            self.ticks += 1
            self._keep(user_id, state, out)

    def catch_up(self) -> None:
        while due := self.schedule.pop_due(self.watermark):
            self._reassess(due)

    def apply(self, event: Event) -> None:
        self.watermark = max(self.watermark, event.ts)
        state = UserState.from_dict(self.states.get(event.user_id))
        out = on_event(event.user_id, state, event,
                       models=self.scorer, config=self.config)
        if out.applied:
            self._keep(event.user_id, state, out)
        self.catch_up()

    def rescore_everyone(self, at: float) -> dict[str, float]:
        """The operator tick: publish, move the watermark to ``at``, re-assess everyone with
        that one model version (the trainer's next snapshot waits until the rescore is done)."""
        if self.fresh:
            self.publish()
        self.hold = True
        try:
            self.watermark = max(self.watermark, at)
            self.catch_up()
            self._reassess(list(self.states))
        finally:
            self.hold = False
        return {u: float(s.get("churn_risk") or 0.0) for u, s in self.states.items()}


def parsed_events(events: Sequence[Mapping[str, Any]]) -> list[Event]:
    """Every event through the contract (as the worker validates it)."""
    now = time.time()
    out = []
    for e in events:
        parsed = parse_event(orjson.dumps(dict(e)), now=now, max_future_skew_s=SKEW)
        if not isinstance(parsed, Event):
            raise ValueError(f"CDNOW event rejected: {parsed}")
        out.append(parsed)
    return out


@dataclass
class Reference:
    """lifetimes' BG/NBD fit on the calibration data to a cut, and recency, per customer."""

    customers: list[str]
    expected: dict[int, np.ndarray]
    recency_days: np.ndarray
    params: dict[str, float]


def lifetimes_reference(frame: Any, cut: date, horizons: Sequence[int]) -> Reference:
    """``BetaGeoFitter(penalizer_coef=0)`` on purchases up to ``cut`` (weeks, day resolution)."""
    import pandas as pd
    from lifetimes import BetaGeoFitter
    from lifetimes.utils import summary_data_from_transaction_data

    calib = frame[frame["date"] <= pd.Timestamp(cut)]
    summary = summary_data_from_transaction_data(
        calib, "customer", "date", observation_period_end=pd.Timestamp(cut), freq="D")
    f = summary["frequency"].to_numpy(float)
    r = summary["recency"].to_numpy(float) / 7.0
    t = summary["T"].to_numpy(float) / 7.0
    model = BetaGeoFitter(penalizer_coef=0.0).fit(f, r, t)
    expected = {h: np.asarray(model.conditional_expected_number_of_purchases_up_to_time(
        h, f, r, t), dtype=float) for h in horizons}
    recency = summary["T"].to_numpy(float) - summary["recency"].to_numpy(float)
    return Reference([str(c) for c in summary.index], expected, recency,
                     {k: float(v) for k, v in model.params_.items()})


def exact_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    from online_models.champion import window_auc

    return window_auc(scores, labels)


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def returned_within(days: Mapping[str, list[date]], cut: date, weeks: int) -> set[str]:
    """Customers with a purchase on a day in ``(cut, cut + weeks]``."""
    end = cut + timedelta(weeks=weeks)
    return {u for u, ds in days.items() if any(cut < d <= end for d in ds)}


@dataclass
class CutRow:
    cut: date
    customers: int
    auc: dict[int, tuple[float, float, float]]  # weeks -> (Lifeline, BG/NBD, recency)
    logloss: tuple[float, float]  # churn_risk vs 13 weeks, constant base rate
    serving: str
    window_auc: float | None
    fitted: dict[str, Any]
    reference: dict[str, float]
    at_cut: dict[str, float]  # 13-week AUC of every candidate on everyone at the cut
    ceiling: dict[int, float] = field(default_factory=dict)  # weeks -> hindsight AUC


def features_at(replay: Replay, customers: Sequence[str], at: float) -> list[dict[str, Any]]:
    """Every customer's churn features at ``at`` (with the served bundle's fitted BG/NBD
    parameters), in the order of ``customers``."""
    from online_models.churn import churn_features

    params = replay.scorer.priors.params
    return [churn_features(UserState.from_dict(replay.states[c]), at, params=params)
            for c in customers]


def candidates_at_cut(replay: Replay, features: Sequence[dict[str, Any]],
                      y: np.ndarray) -> dict[str, float]:
    """Diagnostic: the 13-week AUC every candidate of the served bundle would have had."""
    from online_models.champion import STACK

    scorer = replay.scorer
    scores = [scorer.scores(x) for x in features]
    out = {n: exact_auc(np.array([s[n] for s in scores]), y) for n in scores[0]}
    out[STACK] = exact_auc(np.array([scorer.champion.serve(s, serving=STACK) for s in scores]),
                           y)
    return out


def hindsight_inputs(replay: Replay, features: Sequence[dict[str, Any]]) -> np.ndarray:
    """The learner inputs of churn ``features`` (the served bundle's fitted BG/NBD
    parameters, the churn horizon), one row each, columns in sorted name order."""
    from bench.hindsight import design
    from online_models.candidates import learner_inputs

    params = replay.scorer.priors.params
    rows = [learner_inputs(x, params=params, horizon_days=replay.config.horizon_days)
            for x in features]
    return design(rows)[1]


def evaluate_cut(cut: date, risks: Mapping[str, float], frame: Any,
                 days: Mapping[str, list[date]], replay: Replay, *,
                 ceiling: bool = False) -> CutRow:
    scorer = replay.scorer
    horizons = [w for w in (13, 26) if cut + timedelta(weeks=w) <= DATA_END]
    ref = lifetimes_reference(frame, cut, horizons)
    risk = np.array([risks.get(c, math.nan) for c in ref.customers], dtype=float)
    if np.isnan(risk).any():
        raise RuntimeError(f"{int(np.isnan(risk).sum())} customers have no churn risk")
    auc: dict[int, tuple[float, float, float]] = {}
    hindsight: dict[int, float] = {}
    features = features_at(replay, ref.customers, _midnight_after(cut))
    inputs = hindsight_inputs(replay, features) if ceiling else None
    y13 = np.zeros(0)
    for weeks in horizons:
        back = returned_within(days, cut, weeks)
        y = np.array([0.0 if c in back else 1.0 for c in ref.customers])
        if weeks == 13:
            y13 = y
        auc[weeks] = (exact_auc(risk, y), exact_auc(-ref.expected[weeks], y),
                      exact_auc(ref.recency_days, y))
        if inputs is not None:
            from bench.hindsight import cv_logistic_oof

            hindsight[weeks] = exact_auc(cv_logistic_oof(inputs, y, k=5, seed=0), y)
    metrics = scorer.metrics()
    served = metrics["candidates"].get(metrics["serving"], {}).get("auc")
    at_cut = candidates_at_cut(replay, features, y13)
    return CutRow(cut, len(ref.customers), auc,
                  (log_loss(risk, y13), log_loss(np.full_like(y13, y13.mean()), y13)),
                  metrics["serving"], served, metrics["priors"], ref.params, at_cut, hindsight)


def _f(v: float | None, spec: str = ".4f") -> str:
    return "  n/a " if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, spec)


def print_table(rows: Sequence[CutRow], tolerance: float = 0.005) -> bool:
    """The per-cut table and the targets; True when every target holds."""
    hindsight = any(row.ceiling for row in rows)
    extra = f" | {'ceiling 13w':>11} {'ceiling 26w':>11}" if hindsight else ""
    print(f"{'cut':<10} {'cust':>6} | {'L13':>6} {'BG13':>6} {'rec13':>6} | {'L26':>6} "
          f"{'BG26':>6} {'rec26':>6} | {'LL13':>6} {'base':>6} | serving (window AUC){extra}")
    ok = True
    for row in rows:
        cells = []
        for weeks in (13, 26):
            life, bg, rec = row.auc.get(weeks, (math.nan,) * 3)
            cells.append(f"{_f(life, '.4f'):>6} {_f(bg, '.4f'):>6} {_f(rec, '.4f'):>6}")
            if weeks in row.auc and (life < bg - tolerance or life < rec - tolerance):
                ok = False
                cells[-1] += "*"
        print(f"{row.cut!s:<10} {row.customers:>6} | {cells[0]} | {cells[1]} | "
              f"{row.logloss[0]:>6.4f} {row.logloss[1]:>6.4f} | {row.serving} "
              f"({_f(row.window_auc, '.3f')})"
              + (f" | {_f(row.ceiling.get(13), '.4f'):>11} {_f(row.ceiling.get(26), '.4f'):>11}"
                 if hindsight else ""))
    for weeks in (13, 26):
        have = [r.auc[weeks] for r in rows if weeks in r.auc]
        if not have:
            continue
        mean = np.mean(np.array(have), axis=0)
        gain = mean[0] - mean[1]
        print(f"mean over {len(have)} cuts, {weeks} weeks: Lifeline {mean[0]:.4f}, BG/NBD "
              f"{mean[1]:.4f}, recency {mean[2]:.4f}; Lifeline - BG/NBD = {gain:+.4f} "
              f"(target >= +0.01: {'PASS' if gain >= 0.01 else 'FAIL'})")
        ok = ok and gain >= 0.01
        both = [(r.auc[weeks], r.ceiling[weeks]) for r in rows
                if weeks in r.auc and weeks in r.ceiling]
        if both:
            ref_bg = float(np.mean([a[1] for a, _ in both]))
            print(f"  hindsight, {weeks} weeks, {len(both)} cuts: mean gain over BG/NBD of "
                  f"Lifeline {np.mean([a[0] for a, _ in both]) - ref_bg:+.4f}, of the "
                  f"ceiling {np.mean([c for _, c in both]) - ref_bg:+.4f} (5-fold CV "
                  f"logistic regression on the learner's inputs, fitted on the outcomes it is "
                  f"scored on: a reference, not a deployable model)")
    print(f"target at every cut (Lifeline >= BG/NBD - {tolerance} and >= recency - {tolerance};"
          f" * marks a miss) and means: {'PASS' if ok else 'FAIL'}")
    return ok


def run(cuts: Sequence[date], *, horizon_days: float = 90.0,
        snapshot_examples: int = 2000, ceiling: bool = False) -> list[CutRow]:
    """One replay of CDNOW; evaluate at every cut (in time order); ``ceiling`` adds the
    hindsight reference (not a deployable model, see the module docstring)."""
    import pandas as pd

    from streams.data.datasets import cdnow_events

    started = time.perf_counter()
    raw = list(cdnow_events())
    events = parsed_events(raw)
    days: dict[str, list[date]] = {}
    for e in raw:
        days.setdefault(str(e["user_id"]), []).append(date.fromisoformat(str(e["ts"])[:10]))
    frame = pd.DataFrame([(u, d) for u, ds in days.items() for d in ds],
                         columns=["customer", "date"])
    frame["date"] = pd.to_datetime(frame["date"])
    replay = Replay(EngineConfig(horizon_days=horizon_days), snapshot_examples)
    rows, i, replay_seconds = [], 0, 0.0
    for cut in sorted(cuts):
        t0 = time.perf_counter()
        end = _midnight_after(cut)
        while i < len(events) and events[i].ts < end:
            replay.apply(events[i])
            i += 1
        risks = replay.rescore_everyone(end)
        replay_seconds += time.perf_counter() - t0
        row = evaluate_cut(cut, risks, frame, days, replay, ceiling=ceiling)
        rows.append(row)
        window = {n: m.get("auc") for n, m in replay.scorer.metrics()["candidates"].items()}
        print(f"cut {cut}: {i:,} events, {replay.ticks:,} re-assessments, "
              f"{replay.published} snapshots, serving {row.serving}, "
              f"13w AUC {row.auc[13][0]:.4f} vs BG/NBD {row.auc[13][1]:.4f} "
              f"({time.perf_counter() - started:.0f}s)\n  window AUC {window}\n  "
              f"13w AUC at the cut {({n: round(v, 4) for n, v in row.at_cut.items()})}\n  "
              f"priors {row.fitted}\n  lifetimes {row.reference}"
              + (f"\n  hindsight ceiling (CV on the cut's own outcomes) "
                 f"{ {w: round(v, 4) for w, v in row.ceiling.items()} }" if row.ceiling else ""),
              flush=True)
    print(f"replay (engine + trainer) {replay_seconds:.0f}s, total "
          f"{time.perf_counter() - started:.0f}s")
    last = replay.trainer.metrics()
    print(f"trainer: {last['counts']}, switches {last['switches']}")
    return rows
