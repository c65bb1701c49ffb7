"""Unit tests for `online_models.messages`: the published shapes and their one JSON encoding."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from online_models.alerts import AlertPolicy, decide_alert, record_outcome
from online_models.messages import Alert, Outcome, SegmentChange
from online_models.profile import DAY, UserState

pytestmark = pytest.mark.unit

# The keys of DESIGN.md, in the order the topics and the database rows have always had them.
CHANGE_KEYS = ["change_id", "user_id", "dimension", "from", "to", "at", "reason"]
ALERT_KEYS = ["alert_id", "user_id", "at", "churn_risk", "p_alive", "lifecycle", "value",
              "reasons", "offer", "categories", "control", "model_version", "expires_at"]
OUTCOME_KEYS = ["alert_id", "user_id", "outcome", "revenue", "at", "control"]

CHANGE = SegmentChange("c1", "u-42", "value", "loyal", None, "2026-01-01T00:00:00Z", "rfm_111")


def _alert_and_outcome() -> tuple[Alert, Outcome]:
    s = UserState(purchases=2, revenue=80.0, segments={"lifecycle": "at_risk"})
    policy = AlertPolicy(control_share=0.0)
    alert = decide_alert(s, user_id="u-42", risk=0.8, p_alive=0.3, reasons=[("recency", 0.4)],
                         categories=["shoes"], model_version=3, at=1e9, policy=policy)
    assert alert is not None
    outcome = record_outcome(s, purchase_at=1e9 + DAY, amount=12.5, user_id="u-42",
                             policy=policy)
    assert outcome is not None
    return alert, outcome


def test_messages__wire_keys_and_values_are_those_of_the_design() -> None:
    alert, outcome = _alert_and_outcome()
    assert list(orjson.loads(CHANGE.to_json())) == CHANGE_KEYS
    assert orjson.loads(CHANGE.to_json())["from"] == "loyal"
    wire = orjson.loads(alert.to_json())
    assert list(wire) == ALERT_KEYS
    assert wire["reasons"] == [["recency", 0.4]] and wire["categories"] == ["shoes"]
    assert wire["offer"] == {"kind": "coupon", "value": 10} and wire["value"] is None
    assert list(orjson.loads(outcome.to_json())) == OUTCOME_KEYS
    assert orjson.loads(outcome.to_json())["revenue"] == 12.5


def test_messages__round_trip_through_json_and_dicts() -> None:
    alert, outcome = _alert_and_outcome()
    for message in (CHANGE, alert, outcome):
        kind = type(message)
        assert kind.from_json(message.to_json()) == message
        assert kind.from_dict(orjson.loads(orjson.dumps(message.to_dict()))) == message
        assert message.to_json() == orjson.dumps(message.to_dict())


def _spoiled(message: Any, **changes: Any) -> bytes:
    return orjson.dumps({**message.to_dict(), **changes})


@pytest.mark.parametrize(("kind", "raw", "error"), [
    (SegmentChange, b"not json", "segment change: not JSON"),
    (SegmentChange, b"[]", "segment change: expected an object"),
    (SegmentChange, _spoiled(CHANGE, to=3), "to: expected a string"),
    (SegmentChange, _spoiled(CHANGE, at="tuesday"), "at: 'tuesday' is not an ISO-8601 time"),
    (SegmentChange, _spoiled(CHANGE, change_id=None), "change_id: expected a string"),
    (Alert, _spoiled(_alert_and_outcome()[0], churn_risk=1.5), r"churn_risk: 1\.5 is outside"),
    (Alert, _spoiled(_alert_and_outcome()[0], control="no"), "control: expected a boolean"),
    (Alert, _spoiled(_alert_and_outcome()[0], reasons=[["a"]]), r"reasons\[\]: expected a pair"),
    (Alert, _spoiled(_alert_and_outcome()[0], offer={"kind": "coupon", "value": -1}),
     r"offer\.value: -1 is outside"),
    (Alert, _spoiled(_alert_and_outcome()[0], model_version=1.5), "model_version: expected an"),
    (Outcome, _spoiled(_alert_and_outcome()[1], revenue="12"), "revenue: expected a finite"),
    (Outcome, _spoiled(_alert_and_outcome()[1], control=1), "control: expected a boolean"),
])
def test_messages__malformed_ones_are_refused_naming_the_field(kind: Any, raw: bytes,
                                                                error: str) -> None:
    with pytest.raises(ValueError, match=error):
        kind.from_json(raw)
