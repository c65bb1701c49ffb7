"""Churn features derived from a :class:`UserState` at the watermark, and the BG/NBD P(alive).

Pure: no Faust, no I/O. Every feature is defined from the very first event on (and even for an
empty state) and is always a finite float, so the churn learner never sees NaN or inf.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from online_models.profile import DAY, UserState

WEEK = 7 * DAY
# recency / mean gap is capped here; with fewer than two purchases DEFAULT_GAP_DAYS stands in.
RECENCY_GAP_CAP = 10.0
DEFAULT_GAP_DAYS = 30.0

FEATURE_NAMES: tuple[str, ...] = (
    "recency_days",
    "tenure_days",
    "frequency",
    "purchases",
    "monetary",
    "revenue",
    "gap_mean",
    "gap_std",
    "recency_over_gap",
    "inactivity_days",
    "sessions",
    "events_per_day",
    "cart_abandon_rate",
    "cart_open",
    "sentiment",
    "refund_share",
    "p_alive",
    "purchase_age_days",
)


@dataclass(frozen=True, slots=True)
class BgNbdParams:
    """Population parameters of the BG/NBD model, time unit = weeks.

    The defaults are the CDNOW estimates of Fader, Hardie & Lee (2005), "Counting your
    customers the easy way", Marketing Science 24(2): r=0.243, alpha=4.414, a=0.793, b=2.426
    (``alpha`` is in weeks). They are only the starting point: the trainer fits the shop's
    own (:class:`online_models.priors.Priors`) and publishes them in the model bundle.

    >>> BgNbdParams().r
    0.243
    >>> BgNbdParams(r=-1.0)
    Traceback (most recent call last):
    ...
    ValueError: BG/NBD parameters must be finite and > 0
    """

    r: float = 0.243
    alpha: float = 4.414
    a: float = 0.793
    b: float = 2.426

    def __post_init__(self) -> None:
        values = (self.r, self.alpha, self.a, self.b)
        if not all(math.isfinite(v) and v > 0 for v in values):
            raise ValueError("BG/NBD parameters must be finite and > 0")


CDNOW = BgNbdParams()


def p_alive(
    frequency: float,
    recency_t: float,
    age_t: float,
    *,
    r: float = CDNOW.r,
    alpha: float = CDNOW.alpha,
    a: float = CDNOW.a,
    b: float = CDNOW.b,
) -> float:
    """BG/NBD probability that a customer is still alive (Fader, Hardie & Lee 2005).

    ``P = 1 / (1 + [x > 0] * a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))``
    computed in log space (no overflow for large ``x``).

    Parameters
    ----------
    frequency
        ``x``, the number of repeat purchases (purchases - 1).
    recency_t
        ``t_x``, time of the last purchase measured from the first purchase.
    age_t
        ``T``, time from the first purchase to now (``T >= t_x``).
    r, alpha, a, b
        Population parameters; ``alpha`` and the times must share one unit (weeks for the
        CDNOW defaults, see :class:`BgNbdParams`).

    >>> p_alive(0, 0, 40)  # no repeat purchase: alive by the model's construction
    1.0
    >>> round(p_alive(2, 30.43, 38.86), 4)
    0.7266
    >>> p_alive(10, 5, 40) < 0.001  # frequent buyer silent for 35 weeks
    True
    """
    if not all(math.isfinite(v) for v in (frequency, recency_t, age_t)):
        raise ValueError("frequency, recency_t and age_t must be finite")
    if frequency < 0 or recency_t < 0 or age_t < recency_t:
        raise ValueError("need frequency >= 0 and 0 <= recency_t <= age_t")
    BgNbdParams(r, alpha, a, b)  # validates
    return p_alive_checked(frequency, recency_t, age_t, r, alpha, a, b)


def p_alive_checked(frequency: float, recency_t: float, age_t: float, r: float, alpha: float,
                    a: float, b: float) -> float:
    """:func:`p_alive` of values already checked (finite, ``0 <= recency_t <= age_t``,
    ``frequency >= 0``, parameters of a :class:`BgNbdParams`): the formula alone.

    >>> c = CDNOW
    >>> p_alive_checked(2, 30.43, 38.86, c.r, c.alpha, c.a, c.b) == p_alive(2, 30.43, 38.86)
    True
    """
    if frequency == 0:
        return 1.0
    log_odds = (r + frequency) * math.log((alpha + age_t) / (alpha + recency_t)) + math.log(
        a / (b + frequency - 1)
    )
    if log_odds > 0:
        z = math.exp(-log_odds)
        return z / (1.0 + z)
    return 1.0 / (1.0 + math.exp(log_odds))


def churn_features(
    state: UserState,
    at: float,
    *,
    sentiment: float | None = None,
    params: BgNbdParams = CDNOW,
) -> dict[str, float]:
    """Churn features of ``state`` at watermark time ``at`` (epoch seconds), keys = FEATURE_NAMES.

    Times are in days. ``recency_days`` counts from the last purchase (from first_seen when
    there is none); ``frequency`` is repeat purchases at distinct times (purchases at one
    instant count once, as BG/NBD counts them); ``monetary`` the average order value
    (net of refunds); ``revenue`` is ``log1p`` of net revenue; ``recency_over_gap`` is recency
    over the mean inter-purchase gap (``DEFAULT_GAP_DAYS`` with fewer than two purchases),
    capped at ``RECENCY_GAP_CAP``; ``sentiment`` is the given score, else ``state.sentiment``,
    else 0; ``p_alive`` is BG/NBD with ``params`` (1.0 before any repeat purchase);
    ``purchase_age_days`` is the time since the first purchase (0 before it; with
    ``recency_days`` and ``frequency`` it is the BG/NBD summary of the user). A watermark
    behind the user's clock counts as zero elapsed time.

    >>> from online_models.contract import Event
    >>> from online_models.profile import ProfileConfig, apply_event
    >>> s = UserState()
    >>> _ = apply_event(s, Event("e1", "u1", "purchase", 0.0, price=40.0), ProfileConfig())
    >>> f = churn_features(s, 10 * 86_400.0)
    >>> f["recency_days"], f["frequency"], f["monetary"], f["p_alive"]
    (10.0, 0.0, 40.0, 1.0)
    >>> sorted(f) == sorted(FEATURE_NAMES)
    True
    """
    if not math.isfinite(at):
        raise ValueError("at must be a finite epoch time")
    if sentiment is not None and not math.isfinite(sentiment):
        raise ValueError("sentiment must be finite")
    first = state.first_seen if state.first_seen is not None else at
    last_seen = state.last_seen if state.last_seen is not None else first
    anchor = state.last_purchase if state.last_purchase is not None else first
    recency = max(0.0, (at - anchor) / DAY)
    tenure = max(0.0, (at - first) / DAY)
    purchases = max(0, state.purchases)
    frequency = float(max(0, min(purchases - 1, state.gap_n)))
    net = max(0.0, state.revenue)
    gap_mean = max(0.0, state.gap_mean)
    gap = gap_mean if state.gap_n > 0 and gap_mean > 0 else DEFAULT_GAP_DAYS
    gross = net + max(0.0, state.refunded)
    if state.first_purchase is not None and state.last_purchase is not None and frequency > 0:
        t_x = max(0.0, (state.last_purchase - state.first_purchase) / WEEK)
        age = max(t_x, (at - state.first_purchase) / WEEK)
        alive = p_alive(frequency, t_x, age, r=params.r, alpha=params.alpha, a=params.a,
                        b=params.b)
    else:
        alive = 1.0
    score = sentiment if sentiment is not None else state.sentiment
    features = {
        "recency_days": recency,
        "tenure_days": tenure,
        "frequency": frequency,
        "purchases": float(purchases),
        "monetary": net / purchases if purchases else 0.0,
        "revenue": math.log1p(net),
        "gap_mean": gap_mean,
        "gap_std": state.gap_std,
        "recency_over_gap": min(RECENCY_GAP_CAP, recency / gap),
        "inactivity_days": max(0.0, (at - last_seen) / DAY),
        "sessions": float(state.sessions),
        "events_per_day": state.events / max(1.0, tenure),
        "cart_abandon_rate": state.cart_abandons / state.cart_adds if state.cart_adds else 0.0,
        "cart_open": float(state.cart_open),
        "sentiment": 0.0 if score is None else score,
        "refund_share": min(1.0, state.refunded / gross) if gross > 0 else 0.0,
        "p_alive": alive,
        "purchase_age_days": (max(0.0, (at - state.first_purchase) / DAY)
                              if state.first_purchase is not None else 0.0),
    }
    isfinite = math.isfinite
    return {k: float(v) if isfinite(v) else 0.0 for k, v in features.items()}
