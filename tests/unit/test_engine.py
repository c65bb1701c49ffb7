"""Unit tests for `online_models.engine`: the lifecycle step without any runtime.

Scoring uses a scripted churn scorer (risk = silence since the last purchase / 40 days, or a
fixed value) so each test states the risk it needs instead of training a model for it.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from online_models.alerts import AlertPolicy
from online_models.bundle import ModelBundle
from online_models.contract import Event
from online_models.engine import (
    STRETCH_CAP,
    Emits,
    EngineConfig,
    on_event,
    on_events,
    on_tick,
)
from online_models.lifecycle import LifecyclePolicy
from online_models.profile import DAY, UserState
from online_models.training import RfmSample

pytestmark = pytest.mark.unit

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


class ScriptedRisk:
    """A churn scorer whose risk is ``fixed`` if set, else purchase silence over 40 days."""

    def __init__(self, fixed: float | None = None) -> None:
        self.fixed = fixed

    def predict_proba_one(self, x: dict[str, Any]) -> float:
        if self.fixed is not None:
            return self.fixed
        return min(1.0, x["recency_days"] / 40.0)

    def explain(self, x: dict[str, Any], top: int = 3) -> list[tuple[str, float]]:
        return [("recency_days", 1.0)]


class ScriptedBundle(ModelBundle):
    """A bundle that serves the scripted risk (instead of its champion's) and explains it;
    with ``value``, its RFM quantiles are ready (buyers get a value segment)."""

    def __init__(self, fixed: float | None = None, value: bool = False) -> None:
        super().__init__()
        self.scripted = ScriptedRisk(fixed)
        self.churn = self.scripted  # type: ignore[assignment]  # explain() for alert reasons
        for i in range(30 if value else 0):
            self.learn(RfmSample(float(i), float(i % 4), 10.0 * i, at=T0, span=7.0))

    def churn_risk(self, x: dict[str, Any]) -> float:
        return self.scripted.predict_proba_one(x)


def models(fixed: float | None = None, value: bool = False) -> ModelBundle:
    return ScriptedBundle(fixed, value)


CONFIG = EngineConfig(horizon_days=40.0, rescore_days=2.0,
                      alerts=AlertPolicy(control_share=0.0, cooldown_days=10.0),
                      lifecycle=LifecyclePolicy(new_days=10.0, at_risk_days=20.0,
                                                churned_days=40.0))


def buy(event_id: str, day: float, price: float = 30.0, **kw: Any) -> Event:
    return Event(event_id, "u1", "purchase", T0 + day * DAY, price=price, **kw)


def view(event_id: str, day: float) -> Event:
    return Event(event_id, "u1", "view", T0 + day * DAY, category="shoes")


class User:
    """One user as the worker drives it: each step's ``due`` goes to its schedule, and a tick
    comes at each due time the watermark passes."""

    def __init__(self, value: bool = False) -> None:
        self.state = UserState()
        self.due: float | None = None
        self.value = value  # value segments (ready RFM quantiles) or none

    def event(self, event: Event, bundle: ModelBundle | None = None,
              offset: int | None = None) -> Emits:
        out = on_event("u1", self.state, event, models=bundle or models(value=self.value),
                       config=CONFIG, offset=offset)
        if out.applied:
            self.due = out.due
        return out

    def ticks_until(self, watermark: float) -> list[tuple[float, Emits]]:
        """``(due time, emits)`` of every tick up to ``watermark``, in order."""
        ticks = []
        while self.due is not None and self.due <= watermark:
            out = on_tick("u1", self.state, watermark=watermark, models=models(value=self.value),
                          config=CONFIG)
            ticks.append((self.due, out))
            self.due = out.due
        return ticks


def get(item: Any, name: str) -> Any:
    """A field of an emitted change / alert / outcome / example, as it is published."""
    return item.to_dict()[name]


def churn_labels(outs: list[Emits]) -> list[tuple[int, float]]:
    return [(get(ex, "y"), get(ex, "t")) for out in outs for ex in out.training
            if get(ex, "k") == "churn"]


# --- duplicates --------------------------------------------------------------------------

def test_on_event__duplicate_event_id_changes_nothing_and_emits_nothing() -> None:
    user = User()
    first = user.event(buy("e1", 0))
    assert first.applied and first.changes and first.due is not None
    before = user.state.to_dict()
    again = user.event(buy("e1", 0))
    assert again == Emits(applied=False, duplicates=1)
    assert user.state.to_dict() == before


def test_on_event__redelivered_offset_is_a_duplicate_even_with_a_new_event_id() -> None:
    user = User()
    assert user.event(buy("e1", 0), offset=10).applied
    assert not user.event(buy("e2", 1), offset=10).applied  # re-delivery after a crash
    assert not user.event(buy("e3", 1), offset=9).applied
    assert user.event(buy("e4", 1), offset=11).applied
    assert (user.state.events, user.state.purchases) == (2, 2)


# --- late events -------------------------------------------------------------------------

def test_on_event__late_event_counts_but_never_moves_time_backwards() -> None:
    user = User()
    user.event(view("v1", 0))
    due_before = user.event(buy("b1", 5)).due
    late = user.event(buy("b0", 2, price=10.0))
    state = user.state
    assert late.applied
    assert (state.events, state.purchases, state.revenue) == (3, 2, 40.0)
    assert state.last_seen == T0 + 5 * DAY, "a late event must not move the user's clock back"
    assert state.last_purchase == T0 + 5 * DAY and state.first_purchase == T0 + 2 * DAY
    assert late.due == due_before, "assessed at the user's clock: due when it already was"
    # What it decides is stamped at the user's clock, not at the late event's time.
    assert all(get(c, "at") >= "2026-01-06" for c in late.changes)


# --- due times ---------------------------------------------------------------------------

def test_on_event__due_is_the_nearest_of_rescore_label_and_lifecycle_boundary() -> None:
    out = User().event(buy("b1", 0))
    # Re-scored every 2 days: that comes before the label (40 d) and the 'new' window (10 d).
    assert out.due == T0 + 2 * DAY
    assert out.due == int(out.due), "due times are whole seconds"


def test_on_event__due_is_strictly_after_the_step() -> None:
    config = EngineConfig(rescore_days=1e-9)  # everything due 'now'
    out = on_event("u1", UserState(), buy("b1", 0), models=models(),
                   config=config)
    assert out.due is not None and out.due >= T0 + 1.0


def test_on_tick__assesses_at_the_due_time_not_at_the_watermark() -> None:
    user = User()
    user.event(buy("b1", 0))
    ticks = user.ticks_until(T0 + 100 * DAY)  # one jump of the watermark, 100 days on
    dues = [due for due, _ in ticks]
    assert dues == sorted(dues) and len(dues) == len(set(dues)), "each due time once, in order"
    transitions = [(get(c, "from"), get(c, "to"), get(c, "at")) for _, out in ticks
                   for c in out.changes if get(c, "dimension") == "lifecycle"]
    # new_days=10, at_risk_days=20, churned_days=40 after the purchase on day 0.
    assert transitions == [("new", "active", "2026-01-11T00:00:00Z"),
                           ("active", "at_risk", "2026-01-21T00:00:00Z"),
                           ("at_risk", "churned", "2026-02-10T00:00:00Z")]


def test_on_tick__churned_users_are_rescored_four_times_less_often() -> None:
    user = User(value=True)
    user.event(buy("b1", 0))
    ticks = user.ticks_until(T0 + 60 * DAY)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(ticks)]
    assert gaps[0] == 2 * DAY  # rescore_days while active
    assert user.state.segments["lifecycle"] == "churned"
    # Risk stays at 1.0 and nothing changes: the interval doubles from rescore_days x 4 (8),
    # capped at 8 x rescore_days (16), between the label resolutions (t + H + 1 s).
    assert user.due is not None and user.due - ticks[-1][0] > 8 * DAY
    assert [(d - T0) / DAY for d, _ in ticks[-4:]] == [40, 40 + 1 / DAY, 48 + 1 / DAY,
                                                        56 + 1 / DAY]


def test_on_tick__resolves_the_label_once_the_horizon_has_passed() -> None:
    user = User()
    user.event(buy("b1", 0))
    labels = churn_labels([out for _, out in user.ticks_until(T0 + 45 * DAY)])
    assert labels[0] == (1, T0), "no purchase within 40 days of the first snapshot: churn"
    assert len(labels) == len(set(labels)), "each snapshot resolves once"


def test_on_event__purchase_within_horizon_labels_zero_released_at_the_horizon() -> None:
    user = User()
    user.event(buy("b1", 0))
    assert churn_labels([user.event(buy("b2", 10))]) == [], "held until t + H"
    labels = churn_labels([out for _, out in user.ticks_until(T0 + 41 * DAY)])
    assert labels[0] == (0, T0)


# --- alerts: one per episode ----------------------------------------------------------------

def test_on_tick__one_alert_per_risk_episode_however_often_the_user_is_scored() -> None:
    user = User()
    user.event(buy("b1", 0))
    ticks = user.ticks_until(T0 + 80 * DAY)
    alerts = [a for _, out in ticks for a in out.alerts]
    assert len(ticks) > 10, "the user was re-scored many times in the episode"
    assert len(alerts) == 1
    alert = alerts[0]
    # Risk = silence / 40 days reaches the 0.7 threshold on the first due time past day 28.
    assert get(alert, "at") == "2026-01-29T00:00:00Z" and get(alert, "churn_risk") >= 0.7
    assert get(alert, "reasons") == [["recency_days", 1.0]]


def test_on_event__a_new_episode_after_a_return_alerts_again_with_a_new_id() -> None:
    user = User()
    user.event(buy("b1", 0))
    first = [a for _, out in user.ticks_until(T0 + 45 * DAY) for a in out.alerts]
    back = user.event(buy("b2", 45))  # risk falls to 0: the episode ends
    assert back.outcomes == [], "day 45 is past the 14-day attribution window of day 28"
    second = [a for _, out in user.ticks_until(T0 + 90 * DAY) for a in out.alerts]
    assert len(first) == len(second) == 1
    assert get(first[0], "alert_id") != get(second[0], "alert_id")


def test_on_event__purchase_after_an_alert_is_its_outcome_once() -> None:
    user = User()
    user.event(buy("b1", 0))
    [alert] = [a for _, out in user.ticks_until(T0 + 30 * DAY) for a in out.alerts]
    back = user.event(buy("b2", 30, price=25.0))
    assert [(get(o, "alert_id"), get(o, "revenue")) for o in back.outcomes] == [
        (get(alert, "alert_id"), 25.0)]
    assert user.event(buy("b3", 31)).outcomes == []


def test_on_event__no_alert_for_a_user_not_worth_winning_back() -> None:
    user = User()
    user.event(view("v1", 0), bundle=models(fixed=0.95))
    out = user.event(view("v2", 1), bundle=models(fixed=0.95))
    assert out.alerts == [] and user.state.churn_risk == 0.95


def test_on_event__replaying_the_same_events_decides_the_same() -> None:
    events = [view("v1", 0), buy("b1", 1), view("v2", 3), buy("b0", 0.5), buy("b2", 9)]

    def run() -> list[Any]:
        user, seen = User(), []
        for i, e in enumerate(events):
            out = user.event(e, offset=i)
            seen.append((out.changes, out.alerts, out.training, out.due))
        return [*seen, [(d, o.changes, o.alerts) for d, o in user.ticks_until(T0 + 90 * DAY)]]

    first = run()
    assert first == run()
    assert sum(len(changes) for changes, *_ in first[:-1]) >= 2  # it decided something


# --- adaptive rescore intervals -------------------------------------------------------------

def test_on_tick__a_stable_user_is_looked_at_less_often_and_a_change_resets_it() -> None:
    user, bundle = User(), models(fixed=0.3, value=True)
    user.event(buy("b1", 0), bundle=bundle)
    ticks = []
    while user.due is not None and user.due <= T0 + 200 * DAY:
        out = on_tick("u1", user.state, watermark=T0 + 200 * DAY, models=bundle,
                      config=CONFIG)
        ticks.append((user.due, out))
        user.due = out.due
    dues = [T0] + [d for d, _ in ticks]
    gaps = [(b - a) / DAY for a, b in itertools.pairwise(dues)]
    # Rescores every 2 days, then 4, 8, ... while risk (fixed) and segments stay; the
    # lifecycle boundaries (day 10, 20, 40) are looked at exactly, and reset the interval.
    assert T0 + 10 * DAY in dues and T0 + 20 * DAY in dues and T0 + 40 * DAY in dues
    assert gaps[:3] == [2.0, 4.0, 4.0]  # day 2 (first look: not yet stable), 6, 10 (boundary)
    assert max(gaps) == STRETCH_CAP * CONFIG.rescore_days
    assert len(ticks) < 200 / CONFIG.rescore_days / 3, "far fewer looks than every 2 days"
    # An assessed event resets the interval to rescore_days.
    assert user.state.rescore_stretch > 0
    out = user.event(buy("b2", 200), bundle=bundle)
    assert out.due is not None and out.due <= T0 + 202 * DAY
    assert user.state.rescore_stretch == 0


def test_on_tick__a_buyer_waiting_for_a_value_segment_keeps_the_base_interval() -> None:
    user = User()  # no RFM quantiles yet: no value segment, whatever the risk does
    user.event(buy("b1", 0), bundle=models(fixed=0.3))
    ticks = []
    while user.due is not None and user.due <= T0 + 9 * DAY:
        out = on_tick("u1", user.state, watermark=T0 + 9 * DAY, models=models(fixed=0.3),
                      config=CONFIG)
        ticks.append(user.due)
        user.due = out.due
    assert [(d - T0) / DAY for d in ticks] == [2, 4, 6, 8]
    # The quantiles are ready: placed at the next base look.
    out = on_tick("u1", user.state, watermark=T0 + 10 * DAY,
                  models=models(fixed=0.3, value=True), config=CONFIG)
    assert "value" in user.state.segments and out.due == T0 + 12 * DAY


def test_on_tick__a_moving_risk_keeps_the_base_interval() -> None:
    user = User()
    user.event(buy("b1", 0))  # risk = silence / 40 days: moves 0.05 per 2-day look
    ticks = user.ticks_until(T0 + 20 * DAY)
    gaps = [b - a for (a, _), (b, _) in itertools.pairwise(ticks)]
    assert set(gaps) == {2 * DAY}


# --- assess what matters ----------------------------------------------------------------------

def test_on_event__a_view_soon_after_an_assessment_updates_the_profile_only() -> None:
    user = User()
    user.event(buy("b1", 0))
    risk, due = user.state.churn_risk, user.due
    out = user.event(view("v1", 0.01))  # 14 minutes later
    assert out.applied and user.state.events == 2 and user.state.last_seen == T0 + 0.01 * DAY
    assert (out.changes, out.due, user.state.churn_risk) == ([], due, risk)


def test_on_event__an_event_after_an_hour_of_silence_is_assessed() -> None:
    user = User()
    user.event(buy("b1", 0))
    out = user.event(view("v1", 5))  # five days later: risk is rescored at day 5
    assert user.state.churn_risk == 5 / 40 and out.due == T0 + 7 * DAY


@pytest.mark.parametrize("kind", ["purchase", "refund", "add_to_cart", "remove_from_cart",
                                  "review"])
def test_on_event__money_carts_and_reviews_are_always_assessed(kind: str) -> None:
    user = User()
    user.event(buy("b1", 0))
    out = user.event(Event("x1", "u1", kind, T0 + 60, price=1.0, category="shoes",
                           rating=4, text="fine"))
    assert out.due == T0 + 60 + 2 * DAY, "assessed at the event: rescore due from it"


def test_on_event__every_event_is_assessed_with_assess_every_zero() -> None:
    config = EngineConfig(assess_every_minutes=0.0)
    state = UserState()
    on_event("u1", state, buy("b1", 0), models=models(), config=config)
    out = on_event("u1", state, view("v1", 0.01), models=models(), config=config)
    assert out.due == T0 + 0.01 * DAY + 7 * DAY


# --- batches ------------------------------------------------------------------------------

def test_on_events__a_batch_ends_in_the_same_profile_as_its_events_one_by_one() -> None:
    events = [view("v1", 0), Event("c1", "u1", "add_to_cart", T0 + 60, category="shoes"),
              view("v0", -0.5), buy("b1", 0.01), view("v1", 0), buy("b2", 0.02)]
    single = User()
    for e in events:
        single.event(e)
    batch = UserState()
    out = on_events("u1", batch, events, models=models(), config=CONFIG)
    one, many = single.state.to_dict(), batch.to_dict()
    assert out.duplicates == 1 and batch.events == 5
    for key in ("events", "counts", "purchases", "revenue", "first_seen", "last_seen",
                "sessions", "cart_adds", "affinity", "churn_risk", "segments", "seen"):
        assert one.get(key) == many.get(key), key
    assert out.due == single.due


def test_on_events__a_redelivered_batch_applies_nothing() -> None:
    state = UserState()
    events = [view("v1", 0), buy("b1", 0.01)]
    assert on_events("u1", state, events, models=models(), config=CONFIG, offset=4).applied
    again = on_events("u1", state, [*events[:1], buy("b9", 1)], models=models(),
                      config=CONFIG, offset=4)
    assert (again.applied, again.duplicates, state.events) == (False, 2, 2)
