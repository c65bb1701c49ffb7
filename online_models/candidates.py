"""The candidate scorers of the churn label, each a logit-like score of churn features.

``recency``: days since the last purchase. ``bgnbd``: ``exp(-E[purchases within the horizon])``
of the fitted BG/NBD (:func:`online_models.bgnbd.expected_purchases`; the Poisson approximation
of P(no purchase), a probability before any label; it ranks as the expected purchases, the
usual BG/NBD score of "buys again"; the model's exact P(no purchase within the horizon),
:func:`online_models.bgnbd.p_no_purchase`, ranked "buys again in 13 weeks" on CDNOW 0.002-0.007
ROC AUC lower at every cut of 1997, and as a second, nearly identical candidate it only made
the champion swap on noise). ``p_alive``:
1 - P(alive). ``learner``: the online learner's probability. Every score is
higher for "more likely to churn" (what :class:`online_models.champion.Champion` expects).

Pure: no Faust, no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from online_models.bgnbd import expected_purchases
from online_models.churn import BgNbdParams, p_alive_checked
from online_models.learner import ChurnModel

NAMES = ("recency", "bgnbd", "p_alive", "learner")
_NO_LEARNER = ChurnModel()
PRIOR = "bgnbd"
_EPS = 1e-6


def logit(p: float) -> float:
    """``log(p / (1 - p))`` with ``p`` clipped to ``[1e-6, 1 - 1e-6]``.

    >>> logit(0.5), round(logit(1.0), 2)
    (0.0, 13.82)
    """
    p = min(1 - _EPS, max(_EPS, p))
    return math.log(p / (1 - p))


def rfm_weeks(x: Mapping[str, float]) -> tuple[float, float, float]:
    """The BG/NBD summary ``(repeat purchases, t_x, T)`` in weeks of churn features.

    ``T`` counts from the first purchase (from the first event for a user without one, who
    then counts as a buyer with no repeat purchase); ``t_x = T - recency``.

    >>> rfm_weeks({"frequency": 2.0, "purchases": 3.0, "recency_days": 7.0,
    ...            "purchase_age_days": 70.0})
    (2.0, 9.0, 10.0)
    >>> rfm_weeks({"recency_days": 14.0, "tenure_days": 14.0})
    (0.0, 0.0, 2.0)
    """
    def get(name: str) -> float:
        v = x.get(name, 0.0)
        return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else 0.0

    if get("purchases") > 0:
        age = max(0.0, get("purchase_age_days")) / 7.0
        frequency = max(0.0, get("frequency"))
        t_x = min(age, max(0.0, age - max(0.0, get("recency_days")) / 7.0))
        return frequency, t_x if frequency > 0 else 0.0, age
    return 0.0, 0.0, max(0.0, get("tenure_days")) / 7.0


# Heavy-tailed counts and durations: the learner sees them as log1p (a linear model on raw days
# and counts ranked CDNOW's population 0.005-0.05 below the same model on logs).
LOG_FEATURES = frozenset({"recency_days", "tenure_days", "frequency", "purchases", "monetary",
                          "revenue", "gap_mean", "gap_std", "inactivity_days", "sessions",
                          "events_per_day", "purchase_age_days"})


def learner_inputs(x: Mapping[str, float], *, params: BgNbdParams,
                   horizon_days: float, bgnbd: float | None = None) -> dict[str, float]:
    """What the online learner reads: churn features ``x`` with heavy-tailed ones as
    ``log1p``, plus ``bgnbd`` (the BG/NBD candidate's score with ``params``) and ``gap_cv``
    (``gap_std / gap_mean``, regularity of the inter-purchase gaps). With the BG/NBD score as
    an input the learner starts from the population model and learns what it misses
    (monetary value, regularity, anything the shop's events add). ``bgnbd``: that score when
    the caller has it already (the same ``x``, ``params`` and ``horizon_days``).

    >>> from online_models.churn import CDNOW
    >>> x = {"recency_days": 60.0, "purchases": 3.0, "frequency": 2.0, "gap_mean": 20.0,
    ...      "gap_std": 5.0, "purchase_age_days": 200.0, "cart_open": 1.0}
    >>> z = learner_inputs(x, params=CDNOW, horizon_days=91)
    >>> round(z["recency_days"], 3), z["cart_open"], z["gap_cv"], round(z["bgnbd"], 3)
    (4.111, 1.0, 0.25, 0.295)
    """
    out: dict[str, float] = {}
    isfinite, log1p = math.isfinite, math.log1p
    for k, v in x.items():
        if type(v) is float:  # the usual case (churn features are floats), checked less
            if isfinite(v):
                out[k] = log1p(v if v > 0.0 else 0.0) if k in LOG_FEATURES else v
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not isfinite(v):
            continue
        out[k] = log1p(max(0.0, float(v))) if k in LOG_FEATURES else float(v)
    mean, std = x.get("gap_mean", 0.0), x.get("gap_std", 0.0)
    ok = all(isinstance(v, (int, float)) and math.isfinite(v) for v in (mean, std))
    out["gap_cv"] = max(0.0, float(std)) / float(mean) if ok and mean > 0 else 0.0
    out["bgnbd"] = bgnbd if bgnbd is not None else candidate_scores(
        x, params=params, horizon_days=horizon_days, learner=_NO_LEARNER,
        names=("bgnbd",))["bgnbd"]
    return out


def candidate_scores(x: Mapping[str, float], *, params: BgNbdParams, horizon_days: float,
                     learner: ChurnModel, names: Iterable[str] = NAMES,
                     inputs: Mapping[str, float] | None = None) -> dict[str, float]:
    """Scores of ``names`` for churn features ``x`` (missing features count as 0).

    ``inputs``: the learner's inputs of ``x`` (:func:`learner_inputs` with the same
    ``params`` and ``horizon_days``) when the caller has them already (their ``bgnbd`` is
    then the BG/NBD score too).

    >>> from online_models.churn import CDNOW
    >>> x = {"frequency": 2.0, "purchases": 3.0, "recency_days": 60.0, "purchase_age_days": 200.0}
    >>> s = candidate_scores(x, params=CDNOW, horizon_days=91, learner=ChurnModel())
    >>> sorted(s), round(s["recency"], 3), s["learner"]
    (['bgnbd', 'learner', 'p_alive', 'recency'], 4.111, 0.0)
    """
    if not math.isfinite(horizon_days) or horizon_days <= 0:
        raise ValueError("horizon_days must be finite and > 0")
    wanted = set(names)
    out: dict[str, float] = {}
    if "recency" in wanted:
        recency = x.get("recency_days", 0.0)
        out["recency"] = math.log1p(max(0.0, float(recency))) if math.isfinite(recency) else 0.0
    if wanted & {"bgnbd", "p_alive"}:
        f, t_x, T = rfm_weeks(x)
        weeks = horizon_days / 7.0
        if "bgnbd" in wanted and inputs is not None and "bgnbd" in inputs:
            out["bgnbd"] = inputs["bgnbd"]  # the learner's inputs hold it (same params)
        elif "bgnbd" in wanted:  # logit(exp(-E)), computed without cancellation for small E
            e = max(1e-9, expected_purchases(params, weeks, f, t_x, T))
            out["bgnbd"] = -e - math.log(-math.expm1(-e))
        if "p_alive" in wanted:
            # rfm_weeks gives finite 0 <= t_x <= T, f >= 0; params is a checked BgNbdParams
            alive = p_alive_checked(f, t_x, T, params.r, params.alpha, params.a, params.b)
            out["p_alive"] = logit(1.0 - alive)
    if "learner" in wanted:
        if inputs is None:
            inputs = learner_inputs(x, params=params, horizon_days=horizon_days,
                                    bgnbd=out.get("bgnbd"))
        out["learner"] = logit(learner.predict_proba_one(dict(inputs)))
    unknown = wanted - set(NAMES)
    if unknown:
        raise ValueError(f"unknown candidates {sorted(unknown)}; expected some of {NAMES}")
    return out
