"""BG/NBD (Fader, Hardie & Lee 2005): likelihood, maximum-likelihood fit and per-customer scores.

Pure numpy/scipy: no Faust, no I/O. A customer is summarised by ``x`` (repeat purchases),
``t_x`` (time of the last purchase since the first) and ``T`` (time since the first purchase),
all in weeks, the unit of ``alpha`` (see :class:`online_models.churn.BgNbdParams`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special

from online_models.churn import CDNOW, BgNbdParams, p_alive, p_alive_checked

__all__ = ["BgNbdFit", "expected_purchases", "fit", "log_likelihood", "p_alive",
           "p_no_purchase", "simulate"]


def _arrays(x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
            weights: np.ndarray | None) -> tuple[np.ndarray, ...]:
    x, t_x, T = (np.asarray(v, dtype=float) for v in (x, t_x, T))
    w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
    if not (x.shape == t_x.shape == T.shape == w.shape) or x.ndim != 1:
        raise ValueError("x, t_x, T (and weights) must be 1-d arrays of one length")
    if not all(np.isfinite(v).all() for v in (x, t_x, T, w)):
        raise ValueError("x, t_x, T and weights must be finite")
    if (x < 0).any() or (t_x < 0).any() or (T < t_x).any() or (w < 0).any():
        raise ValueError("need x >= 0, 0 <= t_x <= T and weights >= 0")
    return x, t_x, T, w


def _loglik_rows(r: float, alpha: float, a: float, b: float, x: np.ndarray, t_x: np.ndarray,
                 T: np.ndarray, x_groups: tuple[np.ndarray, np.ndarray] | None = None,
                 ) -> np.ndarray:
    """Per-row log-likelihood. ``x_groups``: ``np.unique(x, return_inverse=True)``; the log
    gammas of ``x`` are then taken once per distinct ``x`` (a few dozen repeat counts)."""
    if x_groups is None:
        g_rx, g_bx, g_abx = (special.gammaln(v + x) for v in (r, b, a + b))
    else:
        ux, inverse = x_groups
        g_rx, g_bx, g_abx = (special.gammaln(v + ux)[inverse] for v in (r, b, a + b))
    a1 = g_rx - special.gammaln(r) + r * np.log(alpha)
    a2 = special.gammaln(a + b) + g_bx - special.gammaln(b) - g_abx
    a3 = -(r + x) * np.log(alpha + T)
    repeat = x > 0
    a4 = np.where(repeat,
                  np.log(a) - np.log(b + np.maximum(x, 1.0) - 1.0) - (r + x) * np.log(alpha + t_x),
                  -np.inf)
    return np.asarray(a1 + a2 + np.logaddexp(a3, a4))


def log_likelihood(params: BgNbdParams, x: np.ndarray, t_x: np.ndarray, T: np.ndarray,
                   weights: np.ndarray | None = None) -> float:
    """Total log-likelihood of customers ``(x, t_x, T)`` (optionally weighted) under ``params``.

    >>> round(log_likelihood(CDNOW, np.array([0.0, 2.0]), np.array([0.0, 30.43]),
    ...                      np.array([38.86, 38.86])), 4)
    -10.0133
    """
    x, t_x, T, w = _arrays(x, t_x, T, weights)
    return float(np.sum(w * _loglik_rows(params.r, params.alpha, params.a, params.b, x, t_x, T)))


@dataclass(frozen=True, slots=True)
class BgNbdFit:
    """A maximum-likelihood fit: parameters, total log-likelihood, customers, converged flag.

    >>> f = BgNbdFit(CDNOW, -9.5, 2, True)
    >>> BgNbdFit.from_data(f.to_data()) == f
    True
    >>> BgNbdFit.from_data({"r": 1})
    Traceback (most recent call last):
    ...
    ValueError: not a BG/NBD fit: missing 'alpha'
    """

    params: BgNbdParams
    loglik: float
    n: int
    converged: bool

    def to_data(self) -> dict[str, float | int | bool]:
        """Plain data (floats, int, bool).

        >>> BgNbdFit(CDNOW, -9.5, 2, True).to_data()["alpha"]
        4.414
        """
        p = self.params
        return {"r": p.r, "alpha": p.alpha, "a": p.a, "b": p.b, "loglik": self.loglik,
                "n": self.n, "converged": self.converged}

    @classmethod
    def from_data(cls, d: object) -> BgNbdFit:
        """The fit of :meth:`to_data`; ``ValueError`` on anything else.

        >>> BgNbdFit.from_data({**BgNbdFit(CDNOW, -9.5, 2, True).to_data(), "n": -1})
        Traceback (most recent call last):
        ...
        ValueError: not a BG/NBD fit: n must be an int >= 0
        """
        if not isinstance(d, dict):
            raise ValueError("not a BG/NBD fit: not a dict")
        for key in ("r", "alpha", "a", "b", "loglik", "n", "converged"):
            if key not in d:
                raise ValueError(f"not a BG/NBD fit: missing {key!r}")
        values = [d[k] for k in ("r", "alpha", "a", "b", "loglik")]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            raise ValueError("not a BG/NBD fit: parameters must be numbers")
        if not isinstance(d["n"], int) or isinstance(d["n"], bool) or d["n"] < 0:
            raise ValueError("not a BG/NBD fit: n must be an int >= 0")
        if not isinstance(d["converged"], bool) or not math.isfinite(float(d["loglik"])):
            raise ValueError("not a BG/NBD fit: converged must be a bool, loglik finite")
        params = BgNbdParams(*(float(v) for v in values[:4]))  # validates: finite, > 0
        return cls(params, float(d["loglik"]), d["n"], d["converged"])


def fit(x: np.ndarray, t_x: np.ndarray, T: np.ndarray, *, weights: np.ndarray | None = None,
        start: BgNbdParams = CDNOW, penalizer: float = 0.0) -> BgNbdFit:
    """Maximum-likelihood ``(r, alpha, a, b)`` of customers ``(x, t_x, T)`` (weeks).

    Identical rows are grouped (weights), then L-BFGS-B on the log-parameters minimises the
    mean negative log-likelihood (plus ``penalizer * sum(params**2)``, as ``lifetimes``),
    from ``start``.

    >>> p = BgNbdParams(r=0.5, alpha=5.0, a=0.8, b=2.5)
    >>> x, t_x, T = simulate(p, 4000, T=40.0, seed=3)
    >>> f = fit(x, t_x, T)
    >>> f.n, f.converged, abs(f.params.r - 0.5) < 0.1
    (4000, True, True)
    """
    x, t_x, T, w = _arrays(x, t_x, T, weights)
    if not math.isfinite(penalizer) or penalizer < 0:
        raise ValueError("penalizer must be finite and >= 0")
    n = round(float(w.sum()))
    if x.size == 0 or w.sum() <= 0:
        raise ValueError("need at least one customer to fit")
    rows, inverse = np.unique(np.column_stack([x, t_x, T]), axis=0, return_inverse=True)
    gw = np.bincount(inverse.ravel(), weights=w)
    gx, gt, gT = rows[:, 0], rows[:, 1], rows[:, 2]
    total = float(gw.sum())
    ux, x_inverse = np.unique(gx, return_inverse=True)
    x_groups = (ux, x_inverse.ravel())

    def objective(logp: np.ndarray) -> float:
        r, alpha, a, b = np.exp(np.clip(logp, -30.0, 30.0))
        ll = float(np.dot(gw, _loglik_rows(r, alpha, a, b, gx, gt, gT, x_groups)))
        penalty = penalizer * float(np.sum(np.exp(2 * np.clip(logp, -30.0, 30.0))))
        value = -ll / total + penalty
        return value if math.isfinite(value) else 1e300

    x0 = np.log([start.r, start.alpha, start.a, start.b])
    res = optimize.minimize(objective, x0, method="L-BFGS-B",
                            options={"maxiter": 1000, "ftol": 1e-13, "gtol": 1e-9})
    r, alpha, a, b = (float(v) for v in np.exp(res.x))
    params = BgNbdParams(r, alpha, a, b)
    return BgNbdFit(params, log_likelihood(params, x, t_x, T, w), n, bool(res.success))


def expected_purchases(params: BgNbdParams, t: float, x: float, t_x: float, T: float) -> float:
    """E[purchases in the next ``t`` weeks | x, t_x, T] (Fader, Hardie & Lee 2005, eq. 10).

    >>> round(expected_purchases(CDNOW, 39.0, 2.0, 30.43, 38.86), 4)
    1.226
    >>> expected_purchases(CDNOW, 0.0, 2.0, 30.43, 38.86)
    0.0
    """
    if not all(math.isfinite(v) for v in (t, x, t_x, T)) or t < 0:
        raise ValueError("need finite values and t >= 0")
    if x < 0 or t_x < 0 or T < t_x:
        raise ValueError("need x >= 0 and 0 <= t_x <= T")
    if t == 0:
        return 0.0
    r, alpha, a, b = params.r, params.alpha, params.a, params.b
    hyp = float(special.hyp2f1(r + x, b + x, a + b + x - 1.0, t / (alpha + T + t)))
    log_ratio = (r + x) * math.log((alpha + T) / (alpha + T + t))
    first = (a + b + x - 1.0) / (a - 1.0) if a != 1.0 else math.inf
    value = first * (1.0 - hyp * math.exp(log_ratio))
    if x > 0:  # x, t_x, T and the parameters are checked: the formula alone
        value *= p_alive_checked(x, t_x, T, r, alpha, a, b)
    return value if math.isfinite(value) and value > 0 else 0.0


def p_no_purchase(params: BgNbdParams, t: float, x: float, t_x: float, T: float) -> float:
    """P(no purchase in the next ``t`` weeks | x, t_x, T): the BG/NBD churn probability.

    Dead customers never buy; an alive one's rate has the posterior Gamma(r + x, alpha + T),
    so ``P = 1 - P(alive) + P(alive) * ((alpha + T) / (alpha + T + t)) ** (r + x)``.

    >>> round(p_no_purchase(CDNOW, 13.0, 2.0, 30.43, 38.86), 4)
    0.6765
    >>> p_no_purchase(CDNOW, 0.0, 2.0, 30.43, 38.86)
    1.0
    """
    if not all(math.isfinite(v) for v in (t, x, t_x, T)) or t < 0:
        raise ValueError("need finite values and t >= 0")
    alive = p_alive(x, t_x, T, r=params.r, alpha=params.alpha, a=params.a, b=params.b)
    stay = math.exp((params.r + x) * math.log((params.alpha + T) / (params.alpha + T + t)))
    return 1.0 - alive + alive * stay


def simulate(params: BgNbdParams, n: int, *, T: float, seed: int = 0,
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(x, t_x, T)`` of ``n`` customers drawn from the BG/NBD process over ``T`` weeks.

    Each customer: ``lambda ~ Gamma(r, 1/alpha)``, ``p ~ Beta(a, b)``; purchases are Poisson
    at rate ``lambda`` and after each purchase the customer drops out with probability ``p``.

    >>> x, t_x, T = simulate(CDNOW, 3, T=10.0, seed=1)
    >>> x.shape, bool((t_x <= T).all())
    ((3,), True)
    """
    if n < 1 or not math.isfinite(T) or T <= 0:
        raise ValueError("need n >= 1 and finite T > 0")
    rng = np.random.default_rng(seed)
    lam = rng.gamma(params.r, 1.0 / params.alpha, n)
    p = rng.beta(params.a, params.b, n)
    xs, ts = np.zeros(n), np.zeros(n)
    for i in range(n):
        now, count = 0.0, 0
        while True:
            now += rng.exponential(1.0 / lam[i]) if lam[i] > 0 else math.inf
            if now > T:
                break
            count, ts[i] = count + 1, now
            if rng.random() < p[i]:
                break
        xs[i] = count
    return xs, ts, np.full(n, float(T))
