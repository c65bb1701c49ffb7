"""The lifecycle step: ``(state, event | tick) -> (state, emits)``, pure and testable alone.

One call per message of a user's events (:func:`on_events`: one event, or a collector batch)
and one per due user when the watermark passes its due time (:func:`on_tick`). Every event
updates the profile; the full assessment (score churn risk with the current model bundle, keep
delayed-label snapshots, run the win-back policy, place the user in segments, schedule the
next look) runs once per message, and only when something calls for it (see
:func:`needs_assessment`). They return what the agent must publish or persist, and when the
user is next due.

Silent users are looked at less often while nothing moves: each re-assessment by
:func:`on_tick` whose risk moved less than :data:`RISK_STEP` and changed no segment doubles the
user's rescore interval, up to :data:`STRETCH_CAP` times ``rescore_days``; any change or any
assessed event resets it. Label resolutions and lifecycle boundaries keep their own exact due
times.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from online_models.alerts import AlertPolicy, decide_alert, record_outcome
from online_models.bundle import ModelBundle
from online_models.churn import churn_features
from online_models.contract import Event
from online_models.labels import next_label_due, resolve_labels, take_snapshot
from online_models.lifecycle import LifecyclePolicy, next_boundary
from online_models.messages import Alert, Outcome, SegmentChange
from online_models.priors import buyer_key
from online_models.profile import DAY, ProfileConfig, UserState, apply_event, decayed_affinity
from online_models.rfm import rfm_inputs
from online_models.segments import evaluate_segments
from online_models.sentiment import update_user_sentiment
from online_models.training import (
    Buyer,
    ChurnLabel,
    Interests,
    ReviewTerms,
    RfmSample,
    TrainingExample,
)


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
    assess_every_minutes
        An event of a type that does not call for an assessment (view, search, login, ...)
        is still assessed when at least this many minutes of event time passed since the
        user's previous event or previous assessment (``LIFELINE_ASSESS_EVERY_MINUTES``; 0:
        every event is assessed).
    """

    profile: ProfileConfig = field(default_factory=ProfileConfig)
    horizon_days: float = 90.0
    rescore_days: float = 7.0
    snapshot_spacing_days: float = 7.0
    max_pending: int = 3
    interest_every: int = 10
    interest_k: int = 8
    labels_at_horizon: bool = True
    assess_every_minutes: float = 60.0
    alerts: AlertPolicy = field(default_factory=AlertPolicy)
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)

    def __post_init__(self) -> None:
        if self.horizon_days <= 0 or self.rescore_days <= 0 or self.interest_every < 1:
            raise ValueError("horizon_days and rescore_days must be > 0, interest_every >= 1")
        if self.assess_every_minutes < 0:
            raise ValueError("assess_every_minutes must be >= 0")


@dataclass(slots=True)
class Emits:
    """What one step produced; ``due`` is when the user must be looked at again (or None).

    ``evicted``: remembered event ids the dedupe cap pushed out while still inside the window
    (copies of those would count again; see ``ProfileConfig.dedup_max_ids``).
    ``duplicates``: events of the message that were not applied (duplicates, re-delivery);
    ``applied`` is True when at least one was.
    """

    applied: bool = True
    training: list[TrainingExample] = field(default_factory=list)
    changes: list[SegmentChange] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    due: float | None = None
    evicted: int = 0
    duplicates: int = 0


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
        out.alerts.append(replace(
            alert, reasons=tuple((n, round(w, 4)) for n, w in models.explain(features)),
            categories=tuple(_categories(state, at, models, config))))
    _schedule(state, at, config, out, 0)


def _schedule(state: UserState, at: float, config: EngineConfig, out: Emits,
              stretch: int) -> None:
    """The user's next due time: the next label, rescore or lifecycle boundary after ``at``.

    The rescore interval is ``2 ** stretch`` times the base one, capped at
    ``STRETCH_CAP * rescore_days`` (never shorter than the base).
    """
    label_due = next_label_due(state, horizon_days=config.horizon_days)
    # Churned users drift slowly: they are re-scored four times less often.
    every = config.rescore_days * (4 if state.segments.get("lifecycle") == "churned" else 1)
    if stretch:  # stable since the last looks: less often still, within the cap
        every = max(every, min(every * 2 ** stretch, config.rescore_days * STRETCH_CAP))
        state.rescore_stretch = stretch
    else:
        state.rescore_stretch = 0
    rescore = at + every * DAY
    boundary = next_boundary(state, at, config.lifecycle)
    if label_due is not None:
        label_due += 1.0  # a label resolves once time has passed t + H
    dues = [d for d in (label_due, rescore, boundary) if d is not None]
    out.due = max(min(dues), at + 1.0) if dues else None  # strictly later than now
    if out.due is None:
        state.due = None
    else:
        out.due = float(int(out.due))
        state.due = int(out.due)


def _resolve(state: UserState, purchase_at: float | None, at: float, config: EngineConfig,
             out: Emits) -> None:
    for x, y, t in resolve_labels(state, purchase_at=purchase_at, watermark=at,
                                  horizon_days=config.horizon_days,
                                  at_horizon=config.labels_at_horizon):
        out.training.append(ChurnLabel(x, y, t))


# A re-assessment whose risk moved less than this and changed no segment is "stable": it
# doubles the user's rescore interval (and the worker does not rewrite the user's row).
RISK_STEP = 0.005
# Silent users are looked at at least every STRETCH_CAP x rescore_days (churned ones included).
STRETCH_CAP = 8
STRETCH_LEVELS = 3  # 2 ** 3 = STRETCH_CAP: no use counting further
# Events that always call for an assessment: they move money, carts or sentiment.
ASSESSED_TYPES = frozenset({"purchase", "refund", "add_to_cart", "remove_from_cart", "review"})


def _sample_rfm(state: UserState, at: float, config: EngineConfig, out: Emits) -> None:
    """The user's raw RFM at ``at``, at most once per ``rescore_days``: every user weighs the
    same in the population quantiles the trainer learns, however often they are assessed."""
    rfm = rfm_inputs(state, at)
    previous = float(state.rfm_sampled_at or 0)
    if rfm is None or at - previous < config.rescore_days * DAY:
        return
    state.rfm_sampled_at = int(at)
    # The sample stands for the time since the user's previous one (churned users are
    # sampled 4x less often): the scorer weighs it by that span, so every buyer counts once.
    span = (at - previous) / DAY if previous else config.rescore_days
    out.training.append(RfmSample(rfm[0], rfm[1], rfm[2], at=at, span=round(span, 3)))


def _apply(user_id: str, state: UserState, event: Event, models: ModelBundle,
           config: EngineConfig, out: Emits) -> bool:
    """Apply one event's own effects (profile, labels, outcome, sentiment, examples)."""
    if not apply_event(state, event, config.profile):
        return False
    at = max(event.ts, state.last_seen or event.ts)
    if event.type == "purchase":
        _resolve(state, event.ts, at, config, out)
        if state.first_purchase is not None and state.last_purchase is not None:
            out.training.append(Buyer(
                buyer_key(user_id), int(state.first_purchase),
                int(max(state.first_purchase, state.last_purchase)),
                max(0, min(state.purchases - 1, state.gap_n))))
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
            out.training.append(ReviewTerms(terms, event.rating))
    if state.events % config.interest_every == 0 and state.affinity:
        out.training.append(Interests(dict(state.affinity)))
    return True


def needs_assessment(state: UserState, types: set[str], *, previous_seen: float | None,
                     config: EngineConfig) -> bool:
    """Whether a message's applied events (of ``types``) call for the full assessment.

    Yes for a purchase, refund, cart change or review; for the user's first events
    (``previous_seen`` None: the user's ``last_seen`` before the message); when at least
    ``assess_every_minutes`` of event time passed since the user's previous event or previous
    assessment; and when the user is due (its due time is not after the user's clock).

    >>> cfg, s = EngineConfig(), UserState(last_seen=10_000.0, lifecycle_evaluated_at=9_000)
    >>> needs_assessment(s, {"view"}, previous_seen=9_500.0, config=cfg)
    False
    >>> needs_assessment(s, {"view", "add_to_cart"}, previous_seen=9_500.0, config=cfg)
    True
    >>> needs_assessment(s, {"view"}, previous_seen=None, config=cfg)  # a new user
    True
    >>> needs_assessment(s, {"view"}, previous_seen=5_000.0, config=cfg)  # back after 83 min
    True
    """
    if previous_seen is None or not types.isdisjoint(ASSESSED_TYPES):
        return True
    at = state.last_seen or 0.0
    every = config.assess_every_minutes * 60.0
    assessed = state.lifecycle_evaluated_at
    due = state.due
    return (at - previous_seen >= every or assessed is None or at - float(assessed) >= every
            or (due is not None and float(due) <= at))


def on_events(user_id: str, state: UserState, events: list[Event], *, models: ModelBundle,
              config: EngineConfig, offset: int | None = None) -> Emits:
    """Apply a message's valid events of one user in order, then assess once if called for.

    Every event is applied on its own (duplicates and late events per event; a purchase
    resolves labels and records a win-back outcome at its own time). The assessment (see
    :func:`needs_assessment`) then runs once, at the user's clock (latest event time): a
    batch's segment changes, alert and label snapshot are stamped at its newest event. A
    message whose ``offset`` is at or below the last applied one is a re-delivery: nothing is
    applied. Without an assessment the user's due time stays as it was.

    The user's clock, not the partition watermark, stamps what an event decides, so a replay
    after a crash decides the same things at the same times (the watermark a replay starts
    from can be ahead of the one the first run had). The partition's clock only matters
    through :func:`on_tick`.

    >>> s, m, cfg = UserState(), ModelBundle(), EngineConfig()
    >>> out = on_events("u1", s, [Event("e1", "u1", "view", 1e9),
    ...                          Event("e2", "u1", "purchase", 1e9 + 60, price=30.0),
    ...                          Event("e1", "u1", "view", 1e9)], models=m, config=cfg)
    >>> s.events, s.purchases, out.duplicates, [c.to_segment for c in out.changes]
    (2, 1, 1, ['new'])
    >>> out = on_events("u1", s, [Event("e3", "u1", "view", 1e9 + 120)], models=m, config=cfg)
    >>> out.changes, out.due == s.due  # a view within the hour: profile only
    ([], True)
    """
    if offset is not None:
        if offset <= state.offset:
            return Emits(applied=False, duplicates=len(events))
        state.offset = offset
    previous_seen, evicted = state.last_seen, state.seen_evicted
    out, types = Emits(applied=False), set()
    for event in events:
        if _apply(user_id, state, event, models, config, out):
            types.add(event.type)
        else:
            out.duplicates += 1
    out.applied = bool(types)
    out.evicted = state.seen_evicted - evicted
    if not out.applied:
        return out
    if needs_assessment(state, types, previous_seen=previous_seen, config=config):
        _assess(user_id, state, float(state.last_seen or 0.0), models, config, out)
    else:
        due = state.due
        out.due = None if due is None else float(due)
    return out


def on_event(user_id: str, state: UserState, event: Event, *, models: ModelBundle,
             config: EngineConfig, offset: int | None = None) -> Emits:
    """Apply one valid event: :func:`on_events` with a message of one event.

    >>> from online_models.contract import Event
    >>> s, m, cfg = UserState(), ModelBundle(), EngineConfig()
    >>> out = on_event("u1", s, Event("e1", "u1", "purchase", 1e9, price=30.0),
    ...                models=m, config=cfg)
    >>> round(s.churn_risk, 4), [c.to_segment for c in out.changes], out.due == 1e9 + 7 * 86_400
    (0.5887, ['new'], True)
    >>> on_event("u1", s, Event("e1", "u1", "purchase", 1e9, price=30.0),
    ...          models=m, config=cfg).applied  # a duplicate
    False
    """
    return on_events(user_id, state, [event], models=models, config=config, offset=offset)


def on_tick(user_id: str, state: UserState, *, watermark: float, models: ModelBundle,
            config: EngineConfig) -> Emits:
    """Re-assess a silent user whose due time the watermark has passed, at that due time.

    Evaluating at the due time (never later than ``watermark``) stamps transitions when they
    happened and makes them independent of which event moved the watermark past it.

    >>> s, m, cfg = UserState(), ModelBundle(), EngineConfig(horizon_days=30)
    >>> _ = on_event("u1", s, Event("e1", "u1", "purchase", 0.0, price=30.0),
    ...              models=m, config=cfg)
    >>> labels = []
    >>> while s.due <= 31 * 86_400:  # the worker pops the user at each due time
    ...     out = on_tick("u1", s, watermark=31 * 86_400.0, models=m, config=cfg)
    ...     labels += [(ex.label, ex.taken_at) for ex in out.training
    ...                if isinstance(ex, ChurnLabel)]
    >>> labels  # the snapshot taken at the purchase: no purchase within 30 days
    [(1, 0.0)]
    """
    at = min(watermark, watermark if state.due is None else float(state.due))
    out = Emits()
    _resolve(state, None, at, config, out)
    risk, segments = state.churn_risk, dict(state.segments)
    stretch = state.rescore_stretch
    _assess(user_id, state, at, models, config, out)
    if stable(risk, segments, state):  # nothing moved: look again later than last time
        _schedule(state, at, config, out, min(stretch + 1, STRETCH_LEVELS))
    return out


def stable(risk_before: float | None, segments_before: dict[str, str],
           state: UserState) -> bool:
    """True when an assessment left the segments as they were and moved the risk less than
    :data:`RISK_STEP` (a first score is never stable).

    A buyer still waiting for its ``value`` segment (absent until the RFM quantiles learned
    their first samples, normally minutes after a start) is not stable either: once they are
    ready it is placed within one base interval. (``interest`` is not waited for: the
    clustering may take months to seed on a shop of rare visitors, and no silent user would
    ever be looked at less often meanwhile.)

    >>> s = UserState(churn_risk=0.503, segments={"lifecycle": "active"})
    >>> stable(0.5, {"lifecycle": "active"}, s), stable(0.49, {"lifecycle": "active"}, s)
    (True, False)
    >>> stable(None, {"lifecycle": "active"}, s), stable(0.5, {}, s)
    (False, False)
    >>> s.purchases = 1  # a buyer without a value segment yet
    >>> stable(0.5, {"lifecycle": "active"}, s)
    False
    """
    if risk_before is None or state.churn_risk is None:
        return False
    if state.purchases and "value" not in state.segments:
        return False
    return (abs(state.churn_risk - risk_before) < RISK_STEP
            and state.segments == segments_before)
