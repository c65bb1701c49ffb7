"""Priors: the buyer sample, the refit schedule and the plain-data round trip."""

from __future__ import annotations

import json

import pytest

from online_models.bgnbd import simulate
from online_models.churn import CDNOW, BgNbdParams
from online_models.priors import Priors, buyer_key

pytestmark = pytest.mark.unit
DAY, WEEK = 86_400.0, 7 * 86_400.0


def _feed(pr: Priors, params: BgNbdParams, n: int, seed: int) -> None:
    x, t_x, _ = simulate(params, n, T=52.0, seed=seed)
    for i in range(n):
        pr.learn_buyer(buyer_key(f"u{seed}-{i}"), 0.0, round(t_x[i] * 7) * DAY, int(x[i]))
    pr.observe(52 * WEEK)


def test_priors__sample_stays_bounded_and_fit_moves_off_cdnow() -> None:
    pr = Priors(max_buyers=3000, min_buyers=100)
    true = BgNbdParams(r=0.9, alpha=8.0, a=0.6, b=3.0)
    _feed(pr, true, 10_000, seed=1)
    assert 1500 <= len(pr.buyers) <= 3000
    assert pr.due()
    result = pr.refit()
    assert result.n == len(pr.buyers)
    assert pr.params.r == pytest.approx(true.r, rel=0.25)
    assert pr.params.r != CDNOW.r and pr.metrics()["source"] == "fitted"


def test_priors__refit_due_on_growth_or_time_only() -> None:
    pr = Priors(min_buyers=10, refit_growth=0.5, refit_days=7.0)
    for i in range(20):
        pr.learn_buyer(i, 0.0, 0.0, 0)
    pr.refit()
    pr.learn_buyer(100, 0.0, DAY, 1)
    assert not pr.due()  # 1 of 21 changed, no time passed
    pr.observe(30 * DAY)
    assert pr.due()  # a week of event time passed since the fit


def test_priors__data_round_trip_is_json_and_validated() -> None:
    pr = Priors(min_buyers=50)
    _feed(pr, CDNOW, 300, seed=2)
    pr.refit()
    data = json.loads(json.dumps(pr.to_data()))
    back = Priors.from_data(data)
    assert back.params == pr.params and back.buyers == pr.buyers
    with pytest.raises(ValueError):
        Priors.from_data({**data, "clock": float("inf")})
    with pytest.raises(ValueError):
        Priors.from_data({**data, "x": data["x"][:-1]})
    for column, bad in (("x", True), ("x", -1), ("x", 1.0), ("keys", -1),
                        ("keys", data["bound"]), ("first", data["last"][3] + 1)):
        with pytest.raises(ValueError):  # one bad cell among plain ints in range
            Priors.from_data({**data, column: [*data[column][:3], bad, *data[column][4:]]})
    with pytest.raises(ValueError):
        Priors.from_data({**data, "fit": {**data["fit"], "r": -1.0}})
