"""Unit tests for `online_models.rfm`: quintile scores, the RFM grid, warm-up, pickling."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from online_models.modeldata import dumps
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


@settings(deadline=None)  # timing is not the property: a loaded machine must not fail it
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


def test_rfm__ties_in_frequency_still_use_every_score() -> None:
    # 60 % bought once: quantile cut points collapse (0.2 = 0.4 = 0.6 quantile = 1), which
    # gave F = 2 and F = 3 the same score as F = 4. Tie-aware classes keep them apart.
    rfm = RFMScorer()
    rng = random.Random(3)
    for f in [1] * 600 + [2] * 180 + [3] * 90 + [4] * 50 + [5] * 30 + [8] * 50:
        rfm.learn_one(rng.uniform(0, 100), f, rng.uniform(0, 100))
    scores = [rfm.score(50.0, f, 50.0)[1] for f in (1, 2, 3, 4, 5, 8)]
    assert scores[:3] == [1, 2, 3]
    assert scores == sorted(scores) and scores[-1] == 5
    assert len(set(scores)) == 5


def test_rfm__decay_follows_an_ageing_population() -> None:
    # The same buyers, 200 days apart: recent at first, old later (a cohort that ages).
    kept, decayed = RFMScorer(halflife_days=None), RFMScorer(halflife_days=30.0)
    rng = random.Random(4)
    for day in (0, 200):
        for _ in range(1000):
            r = rng.uniform(0, 60) + day
            for rfm in (kept, decayed):
                rfm.learn_one(r, rng.randint(1, 5), 50.0, at=day * DAY, span=7.0)
    assert decayed.score(210.0, 3, 50.0)[0] >= 4  # recent for today's buyers
    assert kept.score(210.0, 3, 50.0)[0] <= 3  # cumulative: half of it is still day 0
    cuts = decayed.cut_points("r")
    assert cuts is not None and all(200 < c < 260 for c in cuts)


def test_rfm__span_weighs_every_buyer_once() -> None:
    # Active buyers are sampled every 7 days, lapsed ones every 28 (x4): as many of each.
    weighted, counted = RFMScorer(halflife_days=None), RFMScorer(halflife_days=None)
    rng = random.Random(5)
    for _ in range(200):
        for _ in range(4):
            weighted.learn_one(rng.uniform(0, 10), 2, 10.0, span=7.0)
            counted.learn_one(rng.uniform(0, 10), 2, 10.0)
        weighted.learn_one(rng.uniform(90, 110), 2, 10.0, span=28.0)
        counted.learn_one(rng.uniform(90, 110), 2, 10.0)
    w, c = weighted.cut_points("r"), counted.cut_points("r")
    assert w is not None and c is not None
    assert w[1] < 11 and w[2] > 85  # half the buyers are lapsed
    assert c[2] < 11  # counting samples: 80 % look active


def test_rfm__decayed_scorer_data_is_bins_not_samples() -> None:
    rfm = RFMScorer()
    for i in range(1000):
        rfm.learn_one(float(i % 100), 1 + i % 4, 5.0 * (i % 100), at=i * DAY, span=7.0)
    clone = RFMScorer.from_data(rfm.to_data())
    assert clone.score(10.0, 3, 300.0) == rfm.score(10.0, 3, 300.0) and clone.n == 1000
    assert len(dumps(rfm.to_data())) < 8000  # bins, not samples
    with pytest.raises(ValueError):
        RFMScorer.from_data({**rfm.to_data(), "resolution": 0.0})


def test_rfm__rejects_bad_span_and_values() -> None:
    for kwargs in ({"span": 0.0}, {"span": float("nan")}):
        with pytest.raises(ValueError):
            RFMScorer().learn_one(1.0, 1, 1.0, **kwargs)
    with pytest.raises(ValueError):
        RFMScorer().learn_one(float("inf"), 1, 1.0)
    with pytest.raises(ValueError):
        RFMScorer(halflife_days=0.0)
