"""Unit tests for `online_models.training`: the wire form of training examples and its checks."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from online_models.bundle import ModelBundle
from online_models.contract import Event
from online_models.engine import EngineConfig, on_event, on_tick
from online_models.profile import DAY, UserState
from online_models.training import (
    KINDS,
    Buyer,
    ChurnLabel,
    Interests,
    ReviewTerms,
    RfmSample,
    decode_example,
)

pytestmark = pytest.mark.unit

# The wire keys of each kind, as workers have always sent them (the trainer of an older or a
# newer release reads the same batches).
WIRE_KEYS = {
    "churn": ["k", "x", "y", "t"],
    "review": ["k", "h", "rating"],
    "rfm": ["k", "r", "f", "m", "at", "s"],
    "interest": ["k", "a"],
    "buyer": ["k", "u", "f", "l", "x"],
}


def _examples_of_a_life() -> list[Any]:
    """Every example the lifecycle step sends for a buyer who reviews and then goes silent."""
    s, m, cfg = UserState(), ModelBundle(), EngineConfig(horizon_days=30, interest_every=1)
    out = []
    events = [Event("e0", "u1", "purchase", 0.0, price=30.0, category="shoes"),
              Event("e1", "u1", "review", 9 * DAY, rating=5, text="lovely shoes"),
              Event("e2", "u1", "purchase", 18 * DAY, price=20.0, category="bags")]
    for event in events:
        out += on_event("u1", s, event, models=m, config=cfg).training
    while s.due is not None and s.due <= 80 * DAY:
        out += on_tick("u1", s, watermark=80 * DAY, models=m, config=cfg).training
    return out


def test_training__the_step_sends_every_kind_with_its_wire_keys() -> None:
    examples = _examples_of_a_life()
    assert {ex.kind for ex in examples} == set(KINDS) == set(WIRE_KEYS)
    for ex in examples:
        assert list(ex.to_dict()) == WIRE_KEYS[ex.kind], ex


def test_training__every_example_round_trips_through_json() -> None:
    for ex in _examples_of_a_life():
        back = decode_example(orjson.loads(orjson.dumps(ex.to_dict())))
        assert type(back) is type(ex)
        assert back.to_dict() == orjson.loads(orjson.dumps(ex.to_dict()))


def test_training__optional_fields_of_older_workers_decode() -> None:
    assert decode_example({"k": "churn", "x": {"a": 1}, "y": 0}) == ChurnLabel({"a": 1.0}, 0)
    assert decode_example({"k": "rfm", "r": 1, "f": 2, "m": 3}) == RfmSample(1.0, 2.0, 3.0)
    assert decode_example({"k": "review", "text": "nice", "rating": 4}) == ReviewTerms(
        None, 4, text="nice")
    assert decode_example({"k": "interest", "a": {}, "extra": 1}) == Interests({})


@pytest.mark.parametrize(("raw", "error"), [
    ("x", "training example: expected an object, got str"),
    ({"k": "nonsense"}, "unknown kind 'nonsense'"),
    ({"x": {}}, "unknown kind None"),
    ({"k": "churn"}, r"churn\.x: expected an object"),
    ({"k": "churn", "x": {"a": "1"}, "y": 1}, r"churn\.x\.a: expected a finite number"),
    ({"k": "churn", "x": {}, "y": True}, r"churn\.y: expected an integer"),
    ({"k": "churn", "x": {}, "y": 1, "t": "yesterday"}, r"churn\.t: expected a finite number"),
    ({"k": "review", "rating": 5}, "expected hashed terms"),
    ({"k": "review", "h": [[1, 1]], "rating": 5.0}, r"review\.rating: expected an integer"),
    ({"k": "review", "h": [[1, 1, 1]], "rating": 5}, r"review\.h\[\]"),
    ({"k": "rfm", "r": -1.0, "f": 1.0, "m": 1.0}, r"rfm\.r: -1\.0 is outside"),
    ({"k": "rfm", "r": 1.0, "f": 1.0, "m": float("nan")}, r"rfm\.m: expected a finite"),
    ({"k": "rfm", "r": 1.0, "f": 1.0, "m": 1.0, "s": 0}, r"rfm\.s: 0 is outside"),
    ({"k": "interest", "a": [["shoes", 1.0]]}, r"interest\.a: expected an object"),
    ({"k": "buyer", "u": 2**32, "f": 0, "l": 1, "x": 0}, r"buyer\.u: 4294967296 is outside"),
    ({"k": "buyer", "u": 1, "f": 0.5, "l": 1, "x": 0}, r"buyer\.f: expected an integer"),
])
def test_decode_example__refuses_malformed_examples_naming_the_field(raw: Any, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        decode_example(raw)


def test_bundle_learn__counts_decoded_examples_by_kind() -> None:
    bundle = ModelBundle()
    learned = [bundle.learn(decode_example(ex.to_dict())) for ex in _examples_of_a_life()]
    assert all(learned)
    assert all(bundle.counts[kind] >= 1 for kind in KINDS)
    assert not bundle.learn(Buyer(1, 10, 5, 0))  # last before first: the priors refuse it
