"""Win-back alerts: risk episodes with hysteresis, cooldown, holdout group, offers, outcomes.

Pure: no Faust, no I/O. The alert state lives in ``state.alert_state`` as a list of ints
``[episodes, in_episode, alerted_in_episode, last_alert_at, last_alert_episode, control,
outcome_done]`` (``last_alert_at`` in whole epoch seconds, 0 = never), empty while all zero.

Offer table (``value`` is the user's net revenue, or a high-value ``value_segment``):

============================  ====================  ====================
value                         risk < 0.85           risk >= 0.85
============================  ====================  ====================
high (>= ``high_value`` or    coupon 15 %           coupon 20 %
champions/loyal/cant_lose)
mid (>= ``mid_value``)        coupon 10 %           coupon 15 %
low                           free_shipping         coupon 5 %
============================  ====================  ====================
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Any

from online_models.contract import iso
from online_models.messages import Alert, Outcome
from online_models.profile import DAY, UserState

HIGH_VALUE_SEGMENTS = frozenset({"champions", "loyal", "cant_lose"})
VERY_HIGH_RISK = 0.85
_OFFERS = {  # (tier, very_high_risk) -> offer
    ("high", False): {"kind": "coupon", "value": 15},
    ("high", True): {"kind": "coupon", "value": 20},
    ("mid", False): {"kind": "coupon", "value": 10},
    ("mid", True): {"kind": "coupon", "value": 15},
    ("low", False): {"kind": "free_shipping", "value": 0},
    ("low", True): {"kind": "coupon", "value": 5},
}


@dataclass(frozen=True, slots=True)
class AlertPolicy:
    """When a user at risk gets a win-back alert.

    Parameters
    ----------
    enter_threshold, exit_threshold
        A risk episode starts at ``risk >= enter_threshold`` and ends at
        ``risk < exit_threshold`` (hysteresis: ``exit_threshold <= enter_threshold``).
    cooldown_days
        At most one alert per user per cooldown.
    min_value, min_purchases
        Worth winning back: net revenue ``>= min_value`` and ``>= min_purchases`` purchases.
    control_share
        Share of users (stable hash) in the holdout group: alerts recorded, not published.
    attribution_days
        A purchase this long after an alert counts as its outcome.
    expiry_days
        The offer's validity (``expires_at``).
    high_value, mid_value
        Net-revenue tiers of the offer table.

    >>> AlertPolicy().enter_threshold
    0.7
    >>> AlertPolicy(enter_threshold=0.4, exit_threshold=0.5)
    Traceback (most recent call last):
    ...
    ValueError: need 0 <= exit_threshold <= enter_threshold <= 1
    """

    enter_threshold: float = 0.7
    exit_threshold: float = 0.5
    cooldown_days: float = 30.0
    min_value: float = 0.01
    min_purchases: int = 1
    control_share: float = 0.1
    attribution_days: float = 14.0
    expiry_days: float = 7.0
    high_value: float = 300.0
    mid_value: float = 50.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.exit_threshold <= self.enter_threshold <= 1.0:
            raise ValueError("need 0 <= exit_threshold <= enter_threshold <= 1")
        if not 0.0 <= self.control_share <= 1.0:
            raise ValueError("control_share must be in [0, 1]")
        days = (self.cooldown_days, self.attribution_days, self.expiry_days)
        if not all(math.isfinite(d) and d >= 0 for d in days):
            raise ValueError("cooldown_days, attribution_days and expiry_days must be >= 0")
        if self.min_purchases < 0 or not 0 <= self.mid_value <= self.high_value:
            raise ValueError("need min_purchases >= 0 and 0 <= mid_value <= high_value")


def _digest(text: str, person: bytes, size: int) -> bytes:
    return hashlib.blake2b(text.encode(), digest_size=size, person=person).digest()


def alert_id(user_id: str, episode: int) -> str:
    """Deterministic id of the alert of ``user_id``'s risk ``episode`` (32 hex chars).

    >>> alert_id("u-42", 1) == alert_id("u-42", 1) != alert_id("u-42", 2)
    True
    """
    return _digest(f"{user_id}\x1f{episode}", b"lifeline-alert", 16).hex()


def in_control_group(user_id: str, share: float) -> bool:
    """Stable holdout membership: blake2b of the user id, uniform in [0, 1), below ``share``.

    >>> in_control_group("u-42", 0.0), in_control_group("u-42", 1.0)
    (False, True)
    """
    if not 0.0 <= share <= 1.0:
        raise ValueError("share must be in [0, 1]")
    return int.from_bytes(_digest(user_id, b"lifeline-ctl", 8), "big") / 2.0**64 < share


def choose_offer(
    revenue: float, risk: float, policy: AlertPolicy, value_segment: str | None = None
) -> dict[str, Any]:
    """The offer of the module's table for this value and risk.

    >>> choose_offer(20.0, 0.75, AlertPolicy())
    {'kind': 'free_shipping', 'value': 0}
    >>> choose_offer(20.0, 0.9, AlertPolicy(), "cant_lose")
    {'kind': 'coupon', 'value': 20}
    """
    if revenue >= policy.high_value or value_segment in HIGH_VALUE_SEGMENTS:
        tier = "high"
    elif revenue >= policy.mid_value:
        tier = "mid"
    else:
        tier = "low"
    return dict(_OFFERS[(tier, risk >= VERY_HIGH_RISK)])


def _load(state: UserState) -> list[int]:
    raw = state.alert_state
    return list(raw) if isinstance(raw, list) and len(raw) == 7 else [0, 0, 0, 0, 0, 0, 0]


def _save(state: UserState, values: list[int]) -> None:
    state.alert_state = values if any(values) else []  # all zero: nothing to keep


def decide_alert(
    state: UserState,
    *,
    user_id: str,
    risk: float,
    p_alive: float,
    reasons: list[tuple[str, float]],
    categories: list[str],
    model_version: int,
    at: float,
    policy: AlertPolicy,
    value_segment: str | None = None,
    lifecycle: str | None = None,
) -> Alert | None:
    """Update the user's risk episode at event time ``at``; the alert when one fires.

    An episode starts at ``risk >= enter_threshold`` and ends at ``risk < exit_threshold``.
    At most one alert per episode; it fires at the first score of the episode with
    ``risk >= enter_threshold`` where the user is worth winning back and the cooldown since
    the previous alert has passed. Control-group alerts are returned too (``control: true``):
    record them, do not publish them. ``lifecycle`` / ``value_segment`` default to
    ``state.segments``.

    >>> s, p = UserState(purchases=2, revenue=80.0), AlertPolicy(control_share=0.0)
    >>> a = decide_alert(s, user_id="u-42", risk=0.8, p_alive=0.3, reasons=[("recency_days", 0.4)],
    ...                  categories=["shoes"], model_version=3, at=0.0, policy=p)
    >>> a.offer, a.at, a.expires_at, a.control
    ({'kind': 'coupon', 'value': 10}, '1970-01-01T00:00:00Z', '1970-01-08T00:00:00Z', False)
    >>> decide_alert(s, user_id="u-42", risk=0.9, p_alive=0.3, reasons=[], categories=[],
    ...              model_version=3, at=60.0, policy=p) is None  # same episode
    True
    """
    if not (math.isfinite(risk) and 0.0 <= risk <= 1.0 and math.isfinite(at)):
        raise ValueError("risk must be in [0, 1] and at finite")
    episodes, active, alerted, last_at, last_ep, control, done = _load(state)
    if active and risk < policy.exit_threshold:
        active = alerted = 0
    elif not active and risk >= policy.enter_threshold:
        episodes, active, alerted = episodes + 1, 1, 0
    fire = (
        active
        and not alerted
        and risk >= policy.enter_threshold
        and state.purchases >= policy.min_purchases
        and state.revenue >= policy.min_value
        and (last_ep == 0 or at - last_at >= policy.cooldown_days * DAY)
    )
    alert: Alert | None = None
    if fire:
        alerted, last_at, last_ep, done = 1, math.floor(at), episodes, 0
        control = int(in_control_group(user_id, policy.control_share))
        value = value_segment if value_segment is not None else state.segments.get("value")
        alert = Alert(
            alert_id=alert_id(user_id, episodes),
            user_id=user_id,
            at=iso(at),
            churn_risk=round(risk, 4),
            p_alive=round(p_alive, 4),
            lifecycle=lifecycle if lifecycle is not None else state.segments.get("lifecycle"),
            value=value,
            reasons=tuple((name, round(float(w), 4)) for name, w in reasons),
            offer=choose_offer(state.revenue, risk, policy, value),
            categories=tuple(categories),
            control=bool(control),
            model_version=model_version,
            expires_at=iso(at + policy.expiry_days * DAY),
        )
    _save(state, [episodes, active, alerted, last_at, last_ep, control, done])
    return alert


def record_outcome(
    state: UserState,
    *,
    purchase_at: float,
    amount: float,
    user_id: str,
    policy: AlertPolicy | None = None,
) -> Outcome | None:
    """The ``winback-outcomes`` message of a purchase that answers the user's last alert.

    A purchase counts when it is the first one within ``attribution_days`` after the last
    alert (treated or control); every other purchase gives None.

    >>> s, p = UserState(purchases=1, revenue=60.0), AlertPolicy(control_share=0.0)
    >>> _ = decide_alert(s, user_id="u1", risk=0.9, p_alive=0.2, reasons=[], categories=[],
    ...                  model_version=1, at=0.0, policy=p)
    >>> record_outcome(s, purchase_at=86_400.0, amount=25.0, user_id="u1", policy=p).revenue
    25.0
    >>> record_outcome(s, purchase_at=90_000.0, amount=5.0, user_id="u1", policy=p) is None
    True
    """
    if not (math.isfinite(purchase_at) and math.isfinite(amount) and amount >= 0):
        raise ValueError("purchase_at must be finite and amount finite and >= 0")
    policy = policy or AlertPolicy()
    episodes, active, alerted, last_at, last_ep, control, done = _load(state)
    if not last_ep or done:
        return None
    if not last_at <= purchase_at <= last_at + policy.attribution_days * DAY:
        return None
    _save(state, [episodes, active, alerted, last_at, last_ep, control, 1])
    return Outcome(alert_id=alert_id(user_id, last_ep), user_id=user_id, outcome="returned",
                   revenue=round(amount, 2), at=iso(purchase_at), control=bool(control))


def uplift(
    treated_returned: int, treated_total: int, control_returned: int, control_total: int
) -> dict[str, float | int | None]:
    """Return rates of treated and control users, their difference and a 95 % interval.

    ``uplift`` (and its interval) is None while either group is empty.

    >>> uplift(30, 100, 10, 100)["uplift"]
    0.2
    >>> uplift(3, 10, 0, 0)["uplift"] is None
    True
    """
    counts = (treated_returned, treated_total, control_returned, control_total)
    if any(c < 0 for c in counts) or treated_returned > treated_total or (
        control_returned > control_total
    ):
        raise ValueError("counts must be >= 0 and returned <= total")
    t_rate = treated_returned / treated_total if treated_total else None
    c_rate = control_returned / control_total if control_total else None
    out: dict[str, float | int | None] = {
        "treated_rate": None if t_rate is None else round(t_rate, 4),
        "control_rate": None if c_rate is None else round(c_rate, 4),
        "treated_total": treated_total,
        "control_total": control_total,
        "uplift": None,
        "ci_low": None,
        "ci_high": None,
    }
    if t_rate is not None and c_rate is not None:
        diff = t_rate - c_rate
        var = t_rate * (1 - t_rate) / treated_total + c_rate * (1 - c_rate) / control_total
        se = math.sqrt(var)
        out.update(uplift=round(diff, 4), ci_low=round(diff - 1.96 * se, 4),
                   ci_high=round(diff + 1.96 * se, 4))
    return out
