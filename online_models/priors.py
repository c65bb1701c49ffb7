"""The shop's own BG/NBD population: an incremental RFM summary of its buyers, refitted.

Workers send one ``buyer`` example per purchase (a hash of the user id, first and last
purchase time, repeat purchases); :class:`Priors` keeps the newest summary of a bounded,
deterministic sample of buyers and refits ``(r, alpha, a, b)`` by maximum likelihood
(:func:`online_models.bgnbd.fit`) when enough buyers changed or enough event time passed.
Before the first fit the CDNOW constants (:data:`online_models.churn.CDNOW`) stand in.

Pure: no Faust, no I/O. State is plain data (:meth:`Priors.to_data`).
"""

from __future__ import annotations

import math
import operator
import zlib
from typing import Any

import numpy as np

from online_models.bgnbd import BgNbdFit, fit
from online_models.churn import CDNOW, WEEK, BgNbdParams
from online_models.profile import DAY

HASH_SPACE = 1 << 32


def buyer_key(user_id: str) -> int:
    """A stable 32-bit hash of a user id (sampling, not secrecy).

    >>> buyer_key("u-42")
    1053685878
    """
    return zlib.crc32(user_id.encode())


class Priors:
    """BG/NBD population parameters fitted on the shop's buyers, refitted on a schedule.

    Parameters
    ----------
    max_buyers
        Buyers kept: a buyer is kept when its key is below a bound that halves whenever the
        sample outgrows this, so every buyer is in or out for good (a uniform sample).
        10,000 keeps the snapshot small (about 40 bytes each) and the fit under a second.
    min_buyers
        No fit (the CDNOW constants serve) with fewer buyers in the sample.
    refit_growth
        Refit once this share of the sampled buyers changed since the last fit (and a day of
        event time passed: while the sample fills up, 10 % changes every few minutes of a
        replay, and refitting each time cost half of a CDNOW replay's CPU).
    refit_days
        ... or once this much event time passed (T of every buyer grows).

    >>> from online_models.bgnbd import simulate
    >>> pr = Priors(min_buyers=100)
    >>> pr.params == CDNOW
    True
    >>> x, t_x, _ = simulate(CDNOW, 2000, T=40.0, seed=1)
    >>> for u in range(2000):
    ...     pr.learn_buyer(u, 0.0, round(t_x[u] * 7) * 86_400.0, int(x[u]))
    >>> pr.observe(40 * 7 * 86_400.0)
    >>> pr.due(), pr.refit().n, pr.due(), pr.metrics()["source"]
    (True, 2000, False, 'fitted')
    >>> Priors.from_data(pr.to_data()).params == pr.params
    True
    """

    def __init__(self, *, max_buyers: int = 10_000, min_buyers: int = 200,
                 refit_growth: float = 0.1, refit_days: float = 7.0) -> None:
        if max_buyers < 1 or min_buyers < 1 or not 0 < refit_growth <= 1 or not refit_days > 0:
            raise ValueError("need max_buyers, min_buyers >= 1, 0 < refit_growth <= 1 and "
                             "refit_days > 0")
        self.max_buyers, self.min_buyers = max_buyers, min_buyers
        self.refit_growth, self.refit_days = refit_growth, refit_days
        self.bound = HASH_SPACE
        self.buyers: dict[int, tuple[int, int, int]] = {}  # key -> (first, last, x)
        self.clock = 0.0
        self.fitted: BgNbdFit | None = None
        self.fitted_at = 0.0
        self.changed = 0
        self.fits = 0
        self.rejected = 0

    @property
    def params(self) -> BgNbdParams:
        """The fitted parameters, the CDNOW constants before the first fit.

        >>> Priors().params.r
        0.243
        """
        return self.fitted.params if self.fitted is not None else CDNOW

    def learn_buyer(self, key: int, first: float, last: float, x: int) -> None:
        """The newest summary of one buyer: first / last purchase (epoch s), repeat purchases.

        >>> pr = Priors(max_buyers=1)
        >>> pr.learn_buyer(1, 0.0, 0.0, 0); pr.learn_buyer(2**31 + 5, 0.0, 0.0, 0)
        >>> sorted(pr.buyers), pr.bound  # the sample halved its hash bound to stay at 1
        ([1], 2147483648)
        """
        if not 0 <= key < HASH_SPACE or x < 0:
            raise ValueError("need 0 <= key < 2**32 and x >= 0")
        if not (math.isfinite(first) and math.isfinite(last)) or last < first:
            raise ValueError("need finite first <= last")
        self.observe(last)
        if key >= self.bound:
            return
        self.buyers[key] = (int(first), int(last), int(x))
        self.changed += 1
        while len(self.buyers) > self.max_buyers:
            self.bound //= 2
            self.buyers = {k: v for k, v in self.buyers.items() if k < self.bound}

    def observe(self, at: float) -> None:
        """Move the clock (the newest event time seen) forward to ``at``.

        >>> pr = Priors(); pr.observe(5.0); pr.observe(1.0); pr.clock
        5.0
        """
        if math.isfinite(at) and at > self.clock:
            self.clock = float(at)

    def summary(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(x, t_x, T)`` of the sampled buyers at the clock, in weeks at day resolution.

        >>> pr = Priors(); pr.learn_buyer(1, 0.0, 7 * 86_400.0, 1); pr.observe(14 * 86_400.0)
        >>> [a.tolist() for a in pr.summary()]
        [[1.0], [1.0], [2.0]]
        """
        rows = np.array(list(self.buyers.values()), dtype=float).reshape(-1, 3)
        first, last, x = rows[:, 0], rows[:, 1], rows[:, 2]
        days_x = np.floor((last - first) / DAY + 1e-9)
        days_T = np.maximum(days_x, np.floor((self.clock - first) / DAY + 1e-9))
        return x, days_x * DAY / WEEK, days_T * DAY / WEEK

    def due(self) -> bool:
        """True when a (re)fit is due: enough buyers, at most one attempt per day of event
        time (a fit of 10,000 buyers costs about a second), and, after a fit, enough buyers
        changed or ``refit_days`` passed.

        >>> Priors().due()  # no buyers
        False
        """
        if len(self.buyers) < self.min_buyers:
            return False
        waited = self.clock - self.fitted_at
        if self.fits + self.rejected > 0 and waited < DAY:
            return False
        if self.fitted is None:
            return True
        grown = self.changed >= self.refit_growth * len(self.buyers)
        aged = waited >= self.refit_days * DAY and self.changed > 0
        return grown or aged

    def refit(self) -> BgNbdFit:
        """Fit now (from the current parameters); the fit replaces the current one only when
        it converged inside ``[1e-4, 1e4]`` (on short histories the likelihood can run off
        to ``r, alpha -> inf``, no heterogeneity, which ranks every one-off buyer alike).

        >>> Priors().refit()
        Traceback (most recent call last):
        ...
        ValueError: no buyers to fit
        """
        if len(self.buyers) < 1:
            raise ValueError("no buyers to fit")
        data = self.summary()
        # From the CDNOW start and from the current fit: the likelihood has a ridge towards
        # a -> 0, b -> inf (no dropout) that a warm start can stay stuck on; the better wins.
        result = fit(*data, start=CDNOW)
        if self.fitted is not None:
            warm = fit(*data, start=self.fitted.params)
            result = warm if warm.loglik > result.loglik + 1e-6 else result
        self.fitted_at, self.changed = self.clock, 0
        p = result.params
        if result.converged and all(1e-4 <= v <= 1e4 for v in (p.r, p.alpha, p.a, p.b)):
            self.fitted = result
            self.fits += 1
        else:
            self.rejected += 1
        return result

    def metrics(self) -> dict[str, Any]:
        """Fitted parameters (or the CDNOW start), log-likelihood, sample size, fits.

        >>> Priors().metrics()["source"]
        'cdnow'
        """
        p = self.params
        out: dict[str, Any] = {"r": round(p.r, 4), "alpha": round(p.alpha, 4),
                               "a": round(p.a, 4), "b": round(p.b, 4), "fits": self.fits,
                               "rejected": self.rejected, "buyers": len(self.buyers),
                               "source": "fitted" if self.fitted else "cdnow"}
        if self.fitted is not None:
            out["loglik"] = round(self.fitted.loglik, 2)
            out["n"] = self.fitted.n
        return out

    def to_data(self) -> dict[str, Any]:
        """Plain data: settings, clock, fit and the buyer sample as parallel int lists.

        >>> pr = Priors(); pr.learn_buyer(7, 0.0, 86_400.0, 1)
        >>> d = pr.to_data(); d["keys"], d["first"], d["last"], d["x"], d["fit"]
        ([7], [0], [86400], [1], None)
        """
        keys = list(self.buyers)
        return {"kind": "priors", "schema": 1,
                "max_buyers": self.max_buyers, "min_buyers": self.min_buyers,
                "refit_growth": self.refit_growth, "refit_days": self.refit_days,
                "bound": self.bound, "clock": self.clock, "fitted_at": self.fitted_at,
                "changed": self.changed, "fits": self.fits, "rejected": self.rejected,
                "fit": None if self.fitted is None else self.fitted.to_data(),
                "keys": keys, "first": [self.buyers[k][0] for k in keys],
                "last": [self.buyers[k][1] for k in keys],
                "x": [self.buyers[k][2] for k in keys]}

    @classmethod
    def from_data(cls, d: object) -> Priors:
        """The priors of :meth:`to_data`; ``ValueError`` on bad data.

        >>> Priors.from_data({"kind": "priors", "schema": 1, "max_buyers": "many"})
        Traceback (most recent call last):
        ...
        ValueError: bad priors data: 'max_buyers' must be an int
        """
        if not isinstance(d, dict):
            raise ValueError("bad priors data: not a dict")
        if d.get("kind") != "priors" or d.get("schema") != 1:
            raise ValueError("bad priors data: kind 'priors', schema 1 expected")
        ints = ("max_buyers", "min_buyers", "bound", "changed", "fits", "rejected")
        for key in ints:
            if not isinstance(d.get(key), int) or isinstance(d.get(key), bool):
                raise ValueError(f"bad priors data: {key!r} must be an int")
        floats = ("refit_growth", "refit_days", "clock", "fitted_at")
        for key in floats:
            v = d.get(key)
            if not isinstance(v, (int, float)) or isinstance(v, bool) or not math.isfinite(v):
                raise ValueError(f"bad priors data: {key!r} must be a finite number")
        pr = cls(max_buyers=d["max_buyers"], min_buyers=d["min_buyers"],
                 refit_growth=float(d["refit_growth"]), refit_days=float(d["refit_days"]))
        if not 1 <= d["bound"] <= HASH_SPACE or d["changed"] < 0 or d["fits"] < 0:
            raise ValueError("bad priors data: bound, changed or fits out of range")
        pr.bound, pr.changed, pr.fits = d["bound"], d["changed"], d["fits"]
        pr.rejected = max(0, d["rejected"])
        pr.clock, pr.fitted_at = float(d["clock"]), float(d["fitted_at"])
        pr.fitted = None if d.get("fit") is None else BgNbdFit.from_data(d["fit"])
        columns = [c for k in ("keys", "first", "last", "x") if isinstance(c := d.get(k), list)]
        if len(columns) != 4 or len({len(c) for c in columns}) != 1:
            raise ValueError("bad priors data: keys, first, last, x must be lists of one length")
        keys, firsts, lasts, xs = columns
        if (all({int}.issuperset(map(type, c)) for c in columns)
                and 0 <= min(keys, default=0) and max(keys, default=0) < pr.bound
                and min(xs, default=0) >= 0 and all(map(operator.le, firsts, lasts))):
            pr.buyers = dict(zip(keys, zip(firsts, lasts, xs, strict=True), strict=True))
            return pr  # every row checked at once (plain ints in range); else one by one:
        for row in zip(*columns, strict=True):
            if not all(isinstance(v, int) and not isinstance(v, bool) for v in row):
                raise ValueError("bad priors data: buyer rows must be ints")
            key, first, last, x = row
            if not 0 <= key < pr.bound or last < first or x < 0:
                raise ValueError("bad priors data: buyer row out of range")
            pr.buyers[key] = (first, last, x)
        return pr
