"""Unit tests for `online_models.churn`: features on hand-computed states, BG/NBD P(alive)."""

from __future__ import annotations

import math
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from online_models.churn import (
    CDNOW,
    FEATURE_NAMES,
    RECENCY_GAP_CAP,
    BgNbdParams,
    churn_features,
    p_alive,
)
from online_models.contract import Event
from online_models.profile import DAY, ProfileConfig, UserState, apply_event

pytestmark = pytest.mark.unit
T0 = 1.7e9


def _state(*events: tuple[str, float, float | None]) -> UserState:
    s, cfg = UserState(), ProfileConfig()
    for i, (kind, day, price) in enumerate(events):
        apply_event(s, Event(f"e{i}", "u1", kind, T0 + day * DAY, price=price,
                             session_id=f"s{i}"), cfg)
    return s


def test_churn_features__hand_computed_buyer() -> None:
    s = _state(("view", 0, None), ("purchase", 1, 30.0), ("add_to_cart", 5, 10.0),
               ("purchase", 11, 50.0), ("purchase", 31, 40.0), ("refund", 32, 20.0),
               ("add_to_cart", 40, 5.0))
    f = churn_features(s, T0 + 50 * DAY)
    assert f["recency_days"] == pytest.approx(19.0)
    assert f["tenure_days"] == pytest.approx(50.0)
    assert f["purchases"] == 3.0 and f["frequency"] == 2.0
    assert f["monetary"] == pytest.approx(100.0 / 3)  # (30 + 50 + 40 - 20) / 3
    assert f["revenue"] == pytest.approx(math.log1p(100.0))
    assert f["gap_mean"] == pytest.approx(15.0)  # gaps 10 and 20 days
    assert f["gap_std"] == pytest.approx(math.sqrt(50.0))
    assert f["recency_over_gap"] == pytest.approx(19.0 / 15.0)
    assert f["inactivity_days"] == pytest.approx(10.0)
    assert f["sessions"] == 7.0
    assert f["events_per_day"] == pytest.approx(7 / 50)
    # the day-5 cart was still open when the day-11 session began: 1 abandon of 2 adds
    assert f["cart_abandon_rate"] == pytest.approx(0.5)
    assert f["cart_open"] == 1.0
    assert f["refund_share"] == pytest.approx(20.0 / 120.0)
    assert f["sentiment"] == 0.0
    expected = p_alive(2, 30 / 7, 49 / 7)
    assert f["p_alive"] == pytest.approx(expected)


def test_churn_features__first_event_defined_and_finite() -> None:
    s = _state(("view", 0, None))
    f = churn_features(s, T0)
    assert tuple(f) == FEATURE_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in f.values())
    assert f["recency_days"] == 0.0 and f["p_alive"] == 1.0 and f["events_per_day"] == 1.0


def test_churn_features__empty_state_and_lagging_watermark() -> None:
    assert all(math.isfinite(v) for v in churn_features(UserState(), T0).values())
    s = _state(("purchase", 10, 20.0))
    f = churn_features(s, T0)  # watermark behind the user's clock
    assert f["recency_days"] == 0.0 and f["inactivity_days"] == 0.0


def test_churn_features__recency_over_gap_capped_and_sentiment() -> None:
    s = _state(("purchase", 0, 10.0), ("purchase", 1, 10.0))
    f = churn_features(s, T0 + 400 * DAY, sentiment=-0.5)
    assert f["recency_over_gap"] == RECENCY_GAP_CAP
    assert f["sentiment"] == -0.5
    s.sentiment = 0.8
    assert churn_features(s, T0 + 2 * DAY)["sentiment"] == 0.8


def test_churn_features__bad_input_raises() -> None:
    with pytest.raises(ValueError):
        churn_features(UserState(), math.nan)
    with pytest.raises(ValueError):
        churn_features(UserState(), T0, sentiment=math.inf)


@settings(deadline=None)  # timing is not the property: a loaded machine must not fail it
@given(
    st.lists(st.tuples(st.sampled_from(["view", "purchase", "add_to_cart", "refund", "login"]),
                       st.floats(0, 1000), st.floats(0, 1e5)), min_size=1, max_size=20),
    st.floats(-10, 5000),
)
def test_churn_features__never_nan_or_inf(events: list[tuple[str, float, float]],
                                           at_day: float) -> None:
    f = churn_features(_state(*events), T0 + at_day * DAY)
    assert all(math.isfinite(v) for v in f.values())
    assert 0.0 <= f["p_alive"] <= 1.0


def test_p_alive__no_repeat_is_one() -> None:
    assert p_alive(0, 0, 0) == 1.0
    assert p_alive(0, 0, 500) == 1.0


def test_p_alive__long_silent_frequent_buyer_is_low() -> None:
    assert p_alive(20, 10, 100) < 1e-6
    assert p_alive(20, 99, 100) > 0.9
    assert p_alive(5, 10, 52) < p_alive(5, 10, 20)  # more silence, less alive


def test_p_alive__huge_frequency_does_not_overflow() -> None:
    assert p_alive(1e6, 1, 1e4) == 0.0 or p_alive(1e6, 1, 1e4) < 1e-300
    assert p_alive(1e6, 1e4, 1e4) > 0.99


def test_p_alive__bad_input_raises() -> None:
    for args in [(-1, 0, 1), (1, 5, 2), (1, -1, 2), (math.nan, 0, 1)]:
        with pytest.raises(ValueError):
            p_alive(*args)
    with pytest.raises(ValueError):
        p_alive(1, 1, 2, r=0.0)
    with pytest.raises(ValueError):
        BgNbdParams(alpha=-1.0)


def test_p_alive__matches_lifetimes() -> None:
    try:
        with warnings.catch_warnings():  # lifetimes sets a pandas option deprecated in pandas 3
            warnings.simplefilter("ignore")
            import pandas as pd
            from lifetimes import BetaGeoFitter
    except Exception as exc:  # any import failure means "cannot compare"
        pytest.skip(f"lifetimes does not import with the installed pandas/numpy: {exc}")
    fitter = BetaGeoFitter()
    fitter.params_ = pd.Series({"r": CDNOW.r, "alpha": CDNOW.alpha, "a": CDNOW.a, "b": CDNOW.b})
    for x, t_x, age in [(0, 0, 10), (1, 2, 30), (2, 30.43, 38.86), (7, 20, 52), (15, 5, 60)]:
        ref = float(fitter.conditional_probability_alive(x, t_x, age)[0])
        assert p_alive(x, t_x, age) == pytest.approx(ref, rel=1e-9, abs=1e-12)
