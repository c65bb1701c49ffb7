"""The hindsight reference of bench.cdnow --ceiling: cross-validated logistic regression (numpy).

SYNTHETIC data throughout (seeded normal draws)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.hindsight import cv_logistic_oof, design, stratified_folds
from online_models.champion import logistic_fit, window_auc

pytestmark = pytest.mark.unit


def _known_signal(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """y from a known logistic law on two of four inputs (one input on a large scale, one
    constant): the true probability is the best possible score."""
    rng = np.random.default_rng(seed)
    X = np.column_stack([rng.normal(size=n), 1000.0 * rng.normal(size=n), rng.normal(size=n),
                         np.full(n, 3.0)])
    p = 1.0 / (1.0 + np.exp(-(-0.5 + 1.5 * X[:, 0] - 0.002 * X[:, 1])))
    return X, (rng.random(n) < p).astype(float), p


def test_stratified_folds__balanced_classes_and_sizes_and_seeded() -> None:
    y = np.array([1.0] * 37 + [0.0] * 163)
    folds = stratified_folds(y, k=5, seed=3)
    assert np.bincount(folds).tolist() == [40] * 5
    positives = np.bincount(folds[y == 1], minlength=5)
    assert positives.max() - positives.min() <= 1
    assert np.array_equal(folds, stratified_folds(y, k=5, seed=3))
    assert not np.array_equal(folds, stratified_folds(y, k=5, seed=4))
    with pytest.raises(ValueError):
        stratified_folds(y, k=1)


def test_cv_logistic_oof__recovers_a_known_signal_out_of_fold() -> None:
    X, y, p = _known_signal(4000, seed=11)
    oof = cv_logistic_oof(X, y, k=5, seed=0)
    best = window_auc(p, y)  # the true law, which no fitted model beats in expectation
    auc = window_auc(oof, y)
    assert best > 0.8
    assert best - 0.01 < auc <= best + 0.005
    # calibrated too: out-of-fold probabilities close to the true ones
    assert float(np.mean(np.abs(oof - p))) < 0.03


def test_cv_logistic_oof__random_labels_rank_at_chance() -> None:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(3000, 6))
    for seed in range(3):
        y = (rng.random(3000) < 0.3).astype(float)
        assert abs(window_auc(cv_logistic_oof(X, y, k=5, seed=seed), y) - 0.5) < 0.04


def test_cv_logistic_oof__out_of_fold_is_not_in_sample() -> None:
    """The folds do their job: with many noise inputs, a model fitted and scored on the same
    rows ranks them well above chance; the out-of-fold scores do not."""
    rng = np.random.default_rng(8)
    X = rng.normal(size=(300, 40))
    y = (rng.random(300) < 0.5).astype(float)
    w = np.array(logistic_fit(X, y, l2=1.0 / 300))
    assert window_auc(X @ w[1:], y) > 0.65
    assert abs(window_auc(cv_logistic_oof(X, y, k=5, seed=0), y) - 0.5) < 0.1


def test_cv_logistic_oof__rejects_bad_shapes() -> None:
    with pytest.raises(ValueError):
        cv_logistic_oof(np.zeros(5), np.zeros(5))
    with pytest.raises(ValueError):
        cv_logistic_oof(np.zeros((5, 2)), np.zeros(4))


def test_design__union_of_names_missing_as_zero() -> None:
    names, X = design([{"b": 2.0}, {"a": 1.0, "b": 3.0}])
    assert names == ["a", "b"]
    assert X.tolist() == [[0.0, 2.0], [1.0, 3.0]]


def test_print_table__ceiling_columns_and_mean_gains(capsys: pytest.CaptureFixture[str]) -> None:
    from datetime import date

    from bench.cdnow_cuts import CutRow, print_table

    def row(day: date, life: float, bg: float, ceiling: dict[int, float]) -> CutRow:
        auc = {w: (life, bg, bg - 0.02) for w in ceiling}
        return CutRow(day, 100, auc, (0.4, 0.5), "learner", 0.7, {}, {}, {}, ceiling)

    print_table([row(date(1997, 5, 31), 0.72, 0.71, {13: 0.72, 26: 0.73}),
                 row(date(1998, 1, 31), 0.81, 0.80, {13: 0.816})])
    out = capsys.readouterr().out
    assert "ceiling 13w" in out and "ceiling 26w" in out
    assert "0.8160" in out.splitlines()[2] and "n/a" in out.splitlines()[2]
    assert ("hindsight, 13 weeks, 2 cuts: mean gain over BG/NBD of Lifeline +0.0100, of the "
            "ceiling +0.0130") in out
    assert "hindsight, 26 weeks, 1 cuts" in out and "ceiling +0.0200" in out
    assert "not a deployable model" in out
