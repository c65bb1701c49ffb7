"""The lifecycle step: ``(state, event | tick) -> (state, emits)``, pure and testable alone.

One call per valid event (:func:`on_event`) and one per due user when the watermark passes
its due time (:func:`on_tick`). Both score churn risk with the current model bundle, keep
delayed-label snapshots, run the win-back policy and place the user in segments; they return
what the agent must publish or persist, and when the user is next due.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from online_models.alerts import AlertPolicy, decide_alert, record_outcome
from online_models.bundle import ModelBundle, example
from online_models.churn import churn_features
from online_models.contract import Event
from online_models.labels import next_label_due, resolve_labels, take_snapshot
from online_models.lifecycle import LifecyclePolicy, next_boundary
from online_models.priors import buyer_key
from online_models.profile import DAY, ProfileConfig, UserState, apply_event, decayed_affinity
from online_models.rfm import rfm_inputs
from online_models.segments import evaluate_segments
from online_models.sentiment import update_user_sentiment


@dataclass(frozen=True, slots=True)
class EngineConfig:
    """Policies of the lifecycle step.

    Parameters
    ----------
    horizon_days
        Churn = no purchase within this many days (``LIFELINE_CHURN_HORIZON_DAYS``).
    rescore_days
        A silent user is re-scored at least this often in event time
        (``LIFELINE_RESCORE_DAYS``).
    snapshot_spacing_days, max_pending
        Delayed-label snapshots: at most one per spacing, at most ``max_pending`` waiting.
    interest_every
        Every n-th event of a user sends its affinity vector to the interest learner.
    interest_k
        Number of interest segments.
    labels_at_horizon
        Release every label at ``t + H`` (see ``labels.resolve_labels``); unbiased on
        cohorts and replays (``LIFELINE_LABELS_AT_HORIZON``).
    """

    profile: ProfileConfig = field(default_factory=ProfileConfig)
    horizon_days: float = 90.0
    rescore_days: float = 7.0
    snapshot_spacing_days: float = 7.0
    max_pending: int = 3
    interest_every: int = 10
    interest_k: int = 8
    labels_at_horizon: bool = True
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or self.rescore_days <= 0 or self.interest_every < 1:
            raise ValueError("horizon_days and rescore_days must be > 0, interest_every >= 1")


@dataclass(slots=True)
class Emits:
    """What one step produced; ``due`` is when the user must be looked at again (or None).

    ``evicted``: remembered event ids the dedupe cap pushed out while still inside the window
    (copies of those would count again; see ``ProfileConfig.dedup_max_ids``).
    """

    applied: bool = True
    training: list[dict[str, Any]] = field(default_factory=list)
    changes: list[dict[str, Any]] = field(default_factory=list)
    alerts: list[dict[str, Any]] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)
    due: float | None = None
    evicted: int = 0


def _categories(state: UserState, at: float, models: ModelBundle,
                config: EngineConfig) -> list[str]:
    affinity = decayed_affinity(state, at, config.profile)
    own = sorted(affinity, key=affinity.__getitem__, reverse=True)[:2]
    return own + models.interest.recommend(affinity, k=3 - len(own))


def _assess(user_id: str, state: UserState, at: float, models: ModelBundle,
            config: EngineConfig, out: Emits) -> None:
    """Score, snapshot, alert, segment and schedule one user at watermark ``at``."""
    _sample_rfm(state, at, config, out)
    features = churn_features(state, at, params=models.priors.params)
    risk = models.churn_risk(features)
    # 12 decimals: a calibration refit on a window where the serving candidate barely ranks
    # (slope ~0) squeezes every risk near the base rate; coarser rounding then tied everyone
    # (CDNOW 1997-04-15: ROC AUC 0.50 with 6 decimals for a prior that ranks 0.70)
    state.churn_risk = round(risk, 12)
    take_snapshot(state, at, features, horizon_days=config.horizon_days,
                  max_pending=config.max_pending,
                  min_spacing_days=config.snapshot_spacing_days)
    out.changes.extend(evaluate_segments(user_id, state, at, lifecycle_policy=config.lifecycle,
                                         rfm=models.rfm, interest=models.interest))
    alert = decide_alert(state, user_id=user_id, risk=risk, p_alive=features["p_alive"],
                         reasons=[], categories=[], model_version=models.version, at=at,
                         policy=config.alerts)
    if alert is not None:  # explanations cost more than scoring: only for an actual alert
        alert["reasons"] = [[n, round(w, 4)] for n, w in models.explain(features)]
        alert["categories"] = _categories(state, at, models, config)
        out.alerts.append(alert)
    label_due = next_label_due(state, horizon_days=config.horizon_days)
    # Churned users drift slowly: they are re-scored four times less often.
    every = config.rescore_days * (4 if state.segments.get("lifecycle") == "churned" else 1)
    rescore = at + every * DAY
    boundary = next_boundary(state, at, config.lifecycle)
    if label_due is not None:
        label_due += 1.0  # a label resolves once time has passed t + H
    dues = [d for d in (label_due, rescore, boundary) if d is not None]
    out.due = max(min(dues), at + 1.0) if dues else None  # strictly later than now
    if out.due is None:
        state.ext.pop(DUE, None)
    else:
        out.due = float(int(out.due))
        state.ext[DUE] = int(out.due)


def _resolve(state: UserState, purchase_at: float | None, at: float, config: EngineConfig,
             out: Emits) -> None:
    for x, y, t in resolve_labels(state, purchase_at=purchase_at, watermark=at,
                                  horizon_days=config.horizon_days,
                                  at_horizon=config.labels_at_horizon):
        out.training.append(example("churn", x=x, y=y, t=t))


RFM_SAMPLED_AT = "rs"
DUE = "due"  # when the user must be re-assessed (whole epoch seconds)


def _sample_rfm(state: UserState, at: float, config: EngineConfig, out: Emits) -> None:
    """The user's raw RFM at ``at``, at most once per ``rescore_days``: every user weighs the
    same in the population quantiles the trainer learns, however often they are assessed."""
    rfm = rfm_inputs(state, at)
    previous = float(state.ext.get(RFM_SAMPLED_AT, 0))
    if rfm is None or at - previous < config.rescore_days * DAY:
        return
    state.ext[RFM_SAMPLED_AT] = int(at)
    # The sample stands for the time since the user's previous one (churned users are
    # sampled 4x less often): the scorer weighs it by that span, so every buyer counts once.
    span = (at - previous) / DAY if previous else config.rescore_days
    out.training.append(example("rfm", r=rfm[0], f=rfm[1], m=rfm[2], at=at, s=round(span, 3)))


def on_event(user_id: str, state: UserState, event: Event, *, models: ModelBundle,
             config: EngineConfig, offset: int | None = None) -> Emits:
    """Apply a valid event and re-assess the user at the user's own clock (latest event time).

    The user's clock, not the partition watermark, stamps what an event decides, so a replay
    after a crash decides the same things at the same times (the watermark a replay starts
    from can be ahead of the one the first run had). The partition's clock only matters
    through :func:`on_tick`.

    >>> from online_models.contract import Event
    >>> s, m, cfg = UserState(), ModelBundle(), EngineConfig()
    >>> out = on_event("u1", s, Event("e1", "u1", "purchase", 1e9, price=30.0),
    ...                models=m, config=cfg)
    >>> round(s.churn_risk, 4), [c["to"] for c in out.changes], out.due == 1e9 + 7 * 86_400
    (0.5887, ['new'], True)
    >>> on_event("u1", s, Event("e1", "u1", "purchase", 1e9, price=30.0),
    ...          models=m, config=cfg).applied  # a duplicate
    False
    """
    evicted = state.seen_evicted
    if not apply_event(state, event, config.profile, offset=offset):
        return Emits(applied=False)
    at = max(event.ts, state.last_seen or event.ts)
    out = Emits(evicted=state.seen_evicted - evicted)
    if event.type == "purchase":
        _resolve(state, event.ts, at, config, out)
        if state.first_purchase is not None and state.last_purchase is not None:
            out.training.append(example(
                "buyer", u=buyer_key(user_id), f=int(state.first_purchase),
                l=int(max(state.first_purchase, state.last_purchase)),
                x=max(0, min(state.purchases - 1, state.gap_n))))
        outcome = record_outcome(state, purchase_at=event.ts, amount=event.amount,
                                 user_id=user_id, policy=config.alerts)
        if outcome is not None:
            out.outcomes.append(outcome)
    elif event.type == "review" and event.text:
        terms = models.sentiment.features(event.text)  # the text itself never leaves here
        score = models.sentiment.score_features(terms)
        if math.isfinite(score):
            update_user_sentiment(state, score)
        if event.rating is not None and terms:
            out.training.append(example("review", h=[[b, n] for b, n in terms.items()],
                                        rating=event.rating))
    if state.events % config.interest_every == 0 and state.affinity:
        out.training.append(example("interest", a=dict(state.affinity)))
    _assess(user_id, state, at, models, config, out)
    return out


def on_tick(user_id: str, state: UserState, *, watermark: float, models: ModelBundle,
            config: EngineConfig) -> Emits:
    """Re-assess a silent user whose due time the watermark has passed, at that due time.

    Evaluating at the due time (never later than ``watermark``) stamps transitions when they
    happened and makes them independent of which event moved the watermark past it.

    >>> s, m, cfg = UserState(), ModelBundle(), EngineConfig(horizon_days=30)
    >>> _ = on_event("u1", s, Event("e1", "u1", "purchase", 0.0, price=30.0),
    ...              models=m, config=cfg)
    >>> labels = []
    >>> while s.ext["due"] <= 31 * 86_400:  # the worker pops the user at each due time
    ...     out = on_tick("u1", s, watermark=31 * 86_400.0, models=m, config=cfg)
    ...     labels += [(ex["y"], ex["t"]) for ex in out.training if ex["k"] == "churn"]
    >>> labels  # the snapshot taken at the purchase: no purchase within 30 days
    [(1, 0.0)]
    """
    at = min(watermark, float(state.ext.get(DUE, watermark)))
    out = Emits()
    _resolve(state, None, at, config, out)
    _assess(user_id, state, at, models, config, out)
    return out
