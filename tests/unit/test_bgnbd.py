"""BG/NBD fit: parameters recovered from simulated data, agreement with lifetimes on CDNOW."""

from __future__ import annotations

import numpy as np
import pytest

from online_models.bgnbd import fit, log_likelihood, p_no_purchase, simulate
from online_models.churn import CDNOW, BgNbdParams

pytestmark = pytest.mark.unit

TRUE = BgNbdParams(r=0.5, alpha=5.0, a=0.8, b=2.5)


def test_fit__recovers_simulated_parameters_within_tolerance() -> None:
    # 30,000 customers over 52 weeks: r and alpha within 10 %, a and b within 25 % (a and b
    # are identified only through the repeat buyers' dropouts, so they are the loosest).
    x, t_x, T = simulate(TRUE, 30_000, T=52.0, seed=11)
    got = fit(x, t_x, T).params
    assert got.r == pytest.approx(TRUE.r, rel=0.10)
    assert got.alpha == pytest.approx(TRUE.alpha, rel=0.10)
    assert got.a == pytest.approx(TRUE.a, rel=0.25)
    assert got.b == pytest.approx(TRUE.b, rel=0.25)


def test_fit__maximises_the_likelihood() -> None:
    x, t_x, T = simulate(TRUE, 3_000, T=40.0, seed=5)
    result = fit(x, t_x, T)
    assert result.loglik == pytest.approx(log_likelihood(result.params, x, t_x, T))
    assert result.loglik > log_likelihood(TRUE, x, t_x, T)
    assert result.loglik > log_likelihood(CDNOW, x, t_x, T)


def test_fit__grouped_weights_equal_repeated_rows() -> None:
    x, t_x, T = simulate(TRUE, 500, T=30.0, seed=2)
    once = fit(np.concatenate([x, x]), np.concatenate([t_x, t_x]), np.concatenate([T, T]))
    weighted = fit(x, t_x, T, weights=np.full(x.shape, 2.0))
    assert weighted.params.r == pytest.approx(once.params.r, rel=1e-4)
    assert weighted.n == once.n == 1000


def test_fit__rejects_bad_input() -> None:
    with pytest.raises(ValueError):
        fit(np.array([1.0]), np.array([5.0]), np.array([4.0]))  # t_x > T
    with pytest.raises(ValueError):
        fit(np.array([]), np.array([]), np.array([]))


def test_p_no_purchase__is_a_probability_decreasing_with_the_horizon() -> None:
    values = [p_no_purchase(CDNOW, t, 3.0, 20.0, 30.0) for t in (1.0, 13.0, 52.0, 520.0)]
    assert all(0 < v < 1 for v in values)
    assert values == sorted(values, reverse=True)


def test_fit__agrees_with_lifetimes_on_cdnow_calibration_to_2_decimals() -> None:
    pd = pytest.importorskip("pandas")
    lifetimes = pytest.importorskip("lifetimes")
    from lifetimes.utils import summary_data_from_transaction_data

    from streams.data.datasets import cdnow_path

    rows = pd.read_csv(cdnow_path(), sep=r"\s+", header=0,
                       names=["customer", "date", "cds", "dollars"], dtype={"date": str})
    rows["date"] = pd.to_datetime(rows["date"], format="%Y%m%d")
    summary = summary_data_from_transaction_data(
        rows, "customer", "date", observation_period_end=pd.Timestamp("1997-09-30"), freq="D")
    f = summary["frequency"].to_numpy(float)
    r = summary["recency"].to_numpy(float) / 7.0
    t = summary["T"].to_numpy(float) / 7.0
    reference = lifetimes.BetaGeoFitter(penalizer_coef=0.0).fit(f, r, t).params_
    ours = fit(f, r, t).params
    for name in ("r", "alpha", "a", "b"):
        assert abs(getattr(ours, name) - float(reference[name])) <= 0.005, name
