"""Hindsight reference for a churn score: cross-validated logistic regression on the outcomes
it is scored on.

Not a deployable model. At a cut, the churn label ("no purchase in the next 13 weeks") of
every customer is known only afterwards; this module fits a logistic regression on the same
inputs the online learner reads (``online_models.candidates.learner_inputs``) *and on those
future labels*, K-fold cross-validated, and scores each customer by the fold that did not see
him (out-of-fold predictions). Its ROC AUC says how well any linear function of the learner's
inputs could rank that cut's outcomes when it is allowed to see them: a practical ceiling for
a learner that reads those inputs (a model with other inputs, or non-linear ones, could do a
little better; a model that only sees past labels should do worse).

Numpy only: standardisation with the training folds' mean and standard deviation, the ridge
logistic regression of ``online_models.champion.logistic_fit`` (Newton steps), stratified
shuffled folds from a seeded generator.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from online_models.champion import logistic_fit


def stratified_folds(y: np.ndarray, k: int = 5, seed: int = 0) -> np.ndarray:
    """Fold index (0 .. k-1) of every row: each class shuffled and dealt round-robin.

    >>> f = stratified_folds(np.array([0] * 10 + [1] * 5), k=5, seed=1)
    >>> sorted(np.bincount(f).tolist()), [int(np.sum((f == i) & (np.arange(15) >= 10)))
    ...                                   for i in range(5)]
    ([3, 3, 3, 3, 3], [1, 1, 1, 1, 1])
    """
    if k < 2:
        raise ValueError("need k >= 2 folds")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    folds = np.empty(len(y), dtype=int)
    start = 0
    for cls in np.unique(y):
        rows = rng.permutation(np.flatnonzero(y == cls))
        folds[rows] = (start + np.arange(len(rows))) % k
        start += len(rows)
    return folds


def cv_logistic_oof(X: np.ndarray, y: np.ndarray, *, k: int = 5, seed: int = 0,
                    l2: float | None = None) -> np.ndarray:
    """Out-of-fold probabilities of ``y == 1`` from a K-fold logistic regression on ``X``.

    Each fold's model is fitted on the other folds, its inputs standardised with their mean
    and standard deviation (a column constant there gets weight 0). ``l2`` is the ridge of
    ``logistic_fit`` (per row); ``None`` uses ``1 / n_train``, a total penalty of
    ``||w||^2 / 2``, the default of scikit-learn's ``LogisticRegression`` (``C=1``).

    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(400, 2))
    >>> y = (X[:, 0] + 0.3 * rng.normal(size=400) > 0).astype(float)
    >>> p = cv_logistic_oof(X, y)
    >>> p.shape, bool(np.all((p > 0) & (p < 1)))
    ((400,), True)
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim != 2 or X.shape[0] != y.shape[0]:
        raise ValueError("X must be (n, k) and y (n,)")
    folds = stratified_folds(y, k, seed)
    out = np.full(len(y), np.nan)
    for i in range(k):
        test = folds == i
        train = ~test
        if not test.any():
            continue
        mean = X[train].mean(axis=0)
        std = X[train].std(axis=0)
        keep = std > 1e-12
        z_train = (X[train][:, keep] - mean[keep]) / std[keep]
        z_test = (X[test][:, keep] - mean[keep]) / std[keep]
        n = int(train.sum())
        w = np.array(logistic_fit(z_train, y[train], l2=1.0 / n if l2 is None else l2,
                                  iterations=100))
        out[test] = 1.0 / (1.0 + np.exp(-np.clip(w[0] + z_test @ w[1:], -30.0, 30.0)))
    return out


def design(rows: Sequence[Mapping[str, float]]) -> tuple[list[str], np.ndarray]:
    """Feature names (sorted union of the rows' keys) and the matrix; a missing one is 0.

    >>> design([{"b": 1.0, "a": 2.0}, {"a": 3.0}])
    (['a', 'b'], array([[2., 1.],
           [3., 0.]]))
    """
    names = sorted({k for r in rows for k in r})
    return names, np.array([[float(r.get(k, 0.0)) for k in names] for r in rows], dtype=float)
