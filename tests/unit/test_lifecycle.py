"""Unit tests for `online_models.lifecycle`: thresholds, journey, table, time, duplicates."""

from __future__ import annotations

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from online_models.contract import Event
from online_models.lifecycle import (
    ALLOWED_TRANSITIONS,
    LIFECYCLE_STATES,
    LifecyclePolicy,
    next_lifecycle,
)
from online_models.profile import DAY, ProfileConfig, UserState, apply_event

pytestmark = pytest.mark.unit
T0 = 1.7e9
POLICY = LifecyclePolicy()
CFG = ProfileConfig()


def _event(n: int, kind: str, day: float) -> Event:
    return Event(f"e{n}", "u1", kind, T0 + day * DAY, category="shoes", price=10.0)


def _step(state: UserState, at_day: float) -> tuple[str, str]:
    segment, reason = next_lifecycle(
        state.segments.get("lifecycle"), state, T0 + at_day * DAY, POLICY
    )
    state.segments["lifecycle"] = segment
    return segment, reason


def test_lifecycle__journey_signup_to_reactivated() -> None:
    state, seen = UserState(), list[str]()
    script: list[tuple[str | None, float]] = [
        ("signup", 0), ("purchase", 1), ("purchase", 40), ("purchase", 60), (None, 110),
        (None, 160), ("purchase", 200),
    ]  # fmt: skip
    for n, (kind, day) in enumerate(script):
        if kind is not None:
            assert apply_event(state, _event(n, kind, day), CFG)
        segment, _ = _step(state, day)
        if not seen or seen[-1] != segment:
            seen.append(segment)
    assert seen == ["prospect", "new", "active", "at_risk", "churned", "reactivated"]


def test_lifecycle__reactivated_settles_into_active() -> None:
    state = UserState(purchases=2, first_purchase=T0, last_purchase=T0)
    assert _step(state, 100) == ("churned", "no_purchase_90d")
    state.purchases, state.last_purchase = 3, T0 + 200 * DAY
    assert _step(state, 201) == ("reactivated", "purchase_after_churn")
    assert _step(state, 220)[0] == "reactivated"
    state.purchases, state.last_purchase = 4, T0 + 225 * DAY
    assert _step(state, 231) == ("active", "reactivated_30d_ago")


def test_lifecycle__at_risk_purchase_goes_back_to_active() -> None:
    state = UserState(purchases=2, first_purchase=T0, last_purchase=T0)
    state.segments["lifecycle"] = "active"
    assert _step(state, 50) == ("at_risk", "no_purchase_45d")
    state.purchases, state.last_purchase = 3, T0 + 55 * DAY
    assert _step(state, 55) == ("active", "purchase_after_at_risk")


def test_lifecycle__earlier_evaluation_is_stale() -> None:
    state = UserState(purchases=1, first_purchase=T0, last_purchase=T0)
    assert _step(state, 100)[0] == "churned"
    assert _step(state, 10) == ("churned", "stale")
    assert state.lifecycle_evaluated_at == T0 + 100 * DAY


def test_lifecycle__churned_ignores_late_purchase_in_at_risk_range() -> None:
    state = UserState(purchases=1, first_purchase=T0, last_purchase=T0)
    assert _step(state, 100)[0] == "churned"
    state.purchases, state.last_purchase = 2, T0 + 40 * DAY  # arrived late
    assert _step(state, 100) == ("churned", "unchanged")


def test_lifecycle__first_evaluation_of_an_old_buyer_skips_ahead() -> None:
    state = UserState(purchases=1, first_purchase=T0, last_purchase=T0)
    assert next_lifecycle(None, state, T0 + 95 * DAY, POLICY) == ("churned", "no_purchase_90d")


def test_lifecycle__bad_arguments_raise_value_error() -> None:
    with pytest.raises(ValueError):
        next_lifecycle("zombie", UserState(), T0, POLICY)
    with pytest.raises(ValueError):
        LifecyclePolicy(at_risk_days=90, churned_days=45)
    with pytest.raises(ValueError):
        LifecyclePolicy(new_days=0)


def test_lifecycle__table_covers_every_state() -> None:
    assert set(ALLOWED_TRANSITIONS) == set(LIFECYCLE_STATES)
    assert all(targets <= set(LIFECYCLE_STATES) for targets in ALLOWED_TRANSITIONS.values())
    assert not any("prospect" in t for t in ALLOWED_TRANSITIONS.values())


_OPS = st.lists(
    st.tuples(
        st.sampled_from(["signup", "view", "purchase", "refund", "eval", "dup"]),
        st.floats(min_value=-30.0, max_value=120.0).map(lambda d: round(d, 3)),  # ~1.5 min
    ),
    min_size=1,
    max_size=40,
)


def _settle(state: UserState, at_day: float) -> str:
    """Evaluate at ``at_day`` until nothing moves. One evaluation makes one move: a late
    purchase that ends a churn enters ``reactivated`` as of the purchase, and when its window
    is over by then, the next evaluation at the same instant moves on to ``active``."""
    for _ in range(len(ALLOWED_TRANSITIONS)):
        segment, reason = _step(state, at_day)
        if reason in ("unchanged", "stale"):
            return segment
    raise AssertionError(f"no fixpoint at day {at_day}: {state.segments}")


def test_lifecycle__a_late_purchase_after_churn_passes_through_reactivated() -> None:
    state = UserState()
    _step(state, 0)
    apply_event(state, _event(1, "purchase", 0.0), CFG)
    assert _step(state, 0)[0] == "new"
    assert _step(state, 90) == ("churned", "no_purchase_90d")
    apply_event(state, _event(2, "purchase", 60.0), CFG)  # arrives at day 90: 30 days late
    assert _step(state, 90) == ("reactivated", "purchase_after_churn")
    assert _step(state, 90) == ("active", "reactivated_30d_ago")  # its window is over
    assert _step(state, 90) == ("active", "unchanged")


@settings(max_examples=300, deadline=None)
@example([("purchase", 0.0), ("signup", 90.0), ("purchase", -30.0), ("dup", 0.0)])
@given(_OPS)
def test_lifecycle__random_histories_respect_table_and_time(ops: list[tuple[str, float]]) -> None:
    state, clock, last_event = UserState(), None, None
    for n, (op, delta) in enumerate(ops):
        before = state.segments.get("lifecycle")
        at = delta if clock is None else clock + delta
        if op == "dup" and last_event is not None and clock is not None:
            at = clock  # bring the segment up to date, re-deliver, re-evaluate: no change
            before = _settle(state, at)
            assert not apply_event(state, last_event, CFG)
        elif op not in ("eval", "dup"):
            last_event = _event(n, op, max(at, 0.0))
            apply_event(state, last_event, CFG)
        segment, reason = _step(state, at)
        if before is not None and segment != before:
            assert segment in ALLOWED_TRANSITIONS[before], (before, segment, reason)
        if before is not None and clock is not None and at < clock:
            assert segment == before and reason == "stale"
        if op == "dup" and last_event is not None and clock is not None:
            assert (segment, reason) == (before, "unchanged")
        clock = at if clock is None else max(clock, at)
        assert state.lifecycle_evaluated_at == T0 + clock * DAY
