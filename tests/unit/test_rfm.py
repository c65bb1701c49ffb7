"""Unit tests for `online_models.rfm`: quintile scores, the RFM grid, warm-up, pickling."""

from __future__ import annotations

import pickle
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from online_models.profile import DAY, UserState
from online_models.rfm import VALUE_SEGMENTS, RFMScorer, grid_segment, rfm_inputs

pytestmark = pytest.mark.unit


def _trained(n: int = 2000) -> RFMScorer:
    rng, rfm = random.Random(1), RFMScorer()
    for _ in range(n):
        rfm.learn_one(rng.uniform(0, 100), rng.randint(1, 10), rng.uniform(0, 1000))
    return rfm


def test_rfm__before_learning_scores_middle() -> None:
    rfm = RFMScorer()
    assert rfm.score(0.0, 1, 0.0) == (3, 3, 3)
    assert not rfm.ready and rfm.cut_points("m") is None


def test_rfm__quintiles_approximate_uniform_cuts() -> None:
    cuts = _trained().cut_points("r")
    assert cuts is not None
    for got, want in zip(cuts, (20, 40, 60, 80), strict=True):
        assert abs(got - want) < 5


def test_rfm__recency_is_reversed() -> None:
    rfm = _trained()
    assert rfm.score(1.0, 10, 990.0) == (5, 5, 5)
    assert rfm.score(99.0, 1, 5.0) == (1, 1, 1)
    assert rfm.score(50.0, 5, 500.0) == (3, 3, 3)


def test_rfm__value_segments_of_corners() -> None:
    rfm = _trained()
    assert rfm.value_segment(1.0, 10, 900.0) == "champions"
    assert rfm.value_segment(99.0, 10, 900.0) == "cant_lose"
    assert rfm.value_segment(1.0, 1, 10.0) == "new_customers"
    assert rfm.value_segment(99.0, 1, 10.0) == "lost"
    assert rfm.value_segment(99.0, 0, 0.0) is None


def test_rfm__grid_is_total_and_uses_every_segment() -> None:
    seen = {grid_segment(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert seen == set(VALUE_SEGMENTS)
    with pytest.raises(ValueError):
        grid_segment(0, 3)
    with pytest.raises(ValueError):
        grid_segment(3, 6)


def test_rfm__pickle_round_trip_keeps_scores() -> None:
    rfm = _trained(300)
    clone = pickle.loads(pickle.dumps(rfm))
    assert clone.score(10.0, 3, 200.0) == rfm.score(10.0, 3, 200.0)
    clone.learn_one(1.0, 1, 1.0)
    assert clone.n == rfm.n + 1


def test_rfm__misuse_raises_value_error() -> None:
    with pytest.raises(ValueError):
        RFMScorer(min_samples=0)
    with pytest.raises(ValueError):
        RFMScorer().learn_one(-1.0, 1, 1.0)
    with pytest.raises(ValueError):
        RFMScorer().cut_points("x")


def test_rfm__inputs_from_state() -> None:
    state = UserState(purchases=3, revenue=42.5, last_purchase=10 * DAY)
    assert rfm_inputs(state, 15 * DAY) == (5.0, 3.0, 42.5)
    assert rfm_inputs(state, 5 * DAY) == (0.0, 3.0, 42.5)  # purchase after `at`: recency 0
    assert rfm_inputs(UserState(), 0.0) is None


@given(
    st.floats(0, 1e4, allow_nan=False),
    st.integers(0, 1000),
    st.floats(-1e4, 1e6, allow_nan=False),
)
def test_rfm__scores_always_in_range(r: float, f: int, m: float) -> None:
    rfm = _trained(100)
    assert all(1 <= s <= 5 for s in rfm.score(r, f, m))
    segment = rfm.value_segment(r, f, m)
    assert segment is None if f == 0 else segment in VALUE_SEGMENTS
