"""Unit tests for `online_models.alerts`: episodes, cooldown, holdout, offers, outcomes."""

from __future__ import annotations

import pytest

from online_models.alerts import (
    AlertPolicy,
    alert_id,
    choose_offer,
    decide_alert,
    in_control_group,
    record_outcome,
    uplift,
)
from online_models.messages import Alert, Outcome
from online_models.profile import DAY, UserState

pytestmark = pytest.mark.unit
T0 = 1.7e9
TREATED = AlertPolicy(control_share=0.0)
ALERT_KEYS = {"alert_id", "user_id", "at", "churn_risk", "p_alive", "lifecycle", "value",
              "reasons", "offer", "categories", "control", "model_version", "expires_at"}


def _buyer(revenue: float = 120.0) -> UserState:
    return UserState(purchases=3, revenue=revenue, segments={"lifecycle": "at_risk",
                                                             "value": "need_attention"})


def _decide(s: UserState, risk: float, day: float, policy: AlertPolicy = TREATED,
            user_id: str = "u-42") -> Alert | None:
    return decide_alert(s, user_id=user_id, risk=risk, p_alive=0.3,
                        reasons=[("recency_days", 0.41234)], categories=["shoes", "bags"],
                        model_version=12, at=T0 + day * DAY, policy=policy)


def test_decide_alert__design_shape() -> None:
    decided = _decide(_buyer(), 0.83, 0)
    assert decided is not None and Alert.from_json(decided.to_json()) == decided
    alert = decided.to_dict()  # the churn-alerts message
    assert set(alert) == ALERT_KEYS
    assert alert["at"] == "2023-11-14T22:13:20Z" and alert["expires_at"] == "2023-11-21T22:13:20Z"
    assert alert["reasons"] == [["recency_days", 0.4123]]
    assert alert["lifecycle"] == "at_risk" and alert["value"] == "need_attention"
    assert alert["offer"] == {"kind": "coupon", "value": 10}
    assert alert["churn_risk"] == 0.83 and alert["model_version"] == 12
    assert alert["control"] is False and alert["alert_id"] == alert_id("u-42", 1)


def test_decide_alert__hysteresis_no_realert_while_hovering() -> None:
    s = _buyer()
    assert _decide(s, 0.75, 0) is not None
    for day, risk in enumerate([0.6, 0.72, 0.55, 0.9, 0.51], start=40):  # past the cooldown
        assert _decide(s, risk, day) is None
    assert _decide(s, 0.49, 50) is None  # the episode ends
    again = _decide(s, 0.71, 51)
    assert again is not None and again.alert_id == alert_id("u-42", 2)


def test_decide_alert__below_enter_never_fires() -> None:
    s = _buyer()
    assert all(_decide(s, r, d) is None for d, r in enumerate([0.1, 0.5, 0.69, 0.6]))


def test_decide_alert__cooldown() -> None:
    s = _buyer()
    assert _decide(s, 0.8, 0) is not None
    assert _decide(s, 0.3, 1) is None
    assert _decide(s, 0.8, 10) is None  # new episode inside the 30-day cooldown
    assert _decide(s, 0.8, 29.9) is None
    late = _decide(s, 0.8, 30)  # same episode, cooldown over: it fires once now
    assert late is not None and late.alert_id == alert_id("u-42", 2)
    assert _decide(s, 0.8, 31) is None


def test_decide_alert__not_worth_winning_back() -> None:
    prospect = UserState(purchases=0, revenue=0.0)
    assert _decide(prospect, 0.95, 0) is None
    rich = AlertPolicy(control_share=0.0, min_value=500.0)
    assert _decide(_buyer(120.0), 0.95, 0, rich) is None


def test_decide_alert__deterministic_id_on_replay() -> None:
    runs = []
    for _ in range(2):
        s = _buyer()
        ids = [a.alert_id for d, r in enumerate([0.8, 0.2, 0.1, 0.9] * 20)
               if (a := _decide(s, r, d * 10)) is not None]
        runs.append(ids)
    assert runs[0] == runs[1] and len(set(runs[0])) == len(runs[0]) > 1
    assert alert_id("u-42", 1) == alert_id("u-42", 1) != alert_id("u-43", 1)


def test_decide_alert__state_survives_serialization() -> None:
    s = _buyer()
    _decide(s, 0.8, 0)
    back = UserState.from_bytes(s.to_bytes())
    assert _decide(back, 0.8, 40) is None  # still the same episode after a restore


def test_decide_alert__misuse_raises() -> None:
    with pytest.raises(ValueError):
        _decide(_buyer(), 1.5, 0)
    with pytest.raises(ValueError):
        AlertPolicy(control_share=2.0)
    with pytest.raises(ValueError):
        AlertPolicy(cooldown_days=-1.0)


def test_in_control_group__stable_and_share() -> None:
    assert in_control_group("u-42", 0.1) is True  # fixed known users, fixed groups
    assert in_control_group("u-1", 0.1) is False
    ids = [f"user-{i}" for i in range(10_000)]
    share = sum(in_control_group(u, 0.1) for u in ids) / len(ids)
    assert abs(share - 0.1) < 0.01
    assert all(in_control_group(u, 0.2) for u in ids if in_control_group(u, 0.1))  # nested
    with pytest.raises(ValueError):
        in_control_group("u", -0.1)


def test_decide_alert__control_user_alert_marked() -> None:
    policy = AlertPolicy(control_share=0.1)
    alert = _decide(_buyer(), 0.9, 0, policy, user_id="u-42")
    assert alert is not None and alert.control is True
    treated = _decide(_buyer(), 0.9, 0, policy, user_id="u-1")
    assert treated is not None and treated.control is False


def test_choose_offer__table() -> None:
    p = AlertPolicy()
    assert choose_offer(10.0, 0.7, p) == {"kind": "free_shipping", "value": 0}
    assert choose_offer(10.0, 0.9, p) == {"kind": "coupon", "value": 5}
    assert choose_offer(100.0, 0.7, p) == {"kind": "coupon", "value": 10}
    assert choose_offer(100.0, 0.9, p) == {"kind": "coupon", "value": 15}
    assert choose_offer(500.0, 0.7, p) == {"kind": "coupon", "value": 15}
    assert choose_offer(5.0, 0.9, p, "champions") == {"kind": "coupon", "value": 20}


def test_record_outcome__once_per_alert_within_window() -> None:
    s = _buyer()
    assert record_outcome(s, purchase_at=T0, amount=10.0, user_id="u-42") is None  # no alert
    alert = _decide(s, 0.8, 0)
    assert alert is not None
    out = record_outcome(s, purchase_at=T0 + 3 * DAY, amount=42.5, user_id="u-42")
    assert out is not None and out.to_dict() == {
        "alert_id": alert.alert_id, "user_id": "u-42", "outcome": "returned", "revenue": 42.5,
        "at": "2023-11-17T22:13:20Z", "control": False}
    assert Outcome.from_json(out.to_json()) == out
    assert record_outcome(s, purchase_at=T0 + 4 * DAY, amount=5.0, user_id="u-42") is None


def test_record_outcome__outside_window_ignored() -> None:
    s = _buyer()
    _decide(s, 0.8, 0, AlertPolicy(control_share=1.0))
    assert record_outcome(s, purchase_at=T0 + 15 * DAY, amount=9.0, user_id="u-42") is None
    assert record_outcome(s, purchase_at=T0 - DAY, amount=9.0, user_id="u-42") is None
    out = record_outcome(s, purchase_at=T0 + 14 * DAY, amount=9.0, user_id="u-42")
    assert out is not None and out.control is True


def test_uplift__rates_and_interval() -> None:
    out = uplift(30, 100, 10, 100)
    assert out["treated_rate"] == 0.3 and out["control_rate"] == 0.1 and out["uplift"] == 0.2
    assert out["ci_low"] is not None and out["ci_high"] is not None
    assert out["ci_low"] < 0.2 < out["ci_high"]
    assert uplift(0, 0, 0, 0)["uplift"] is None
    with pytest.raises(ValueError):
        uplift(5, 3, 0, 1)
