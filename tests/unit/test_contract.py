"""The event contract on hostile input: control characters, internal keys, bounds."""

from __future__ import annotations

import math
from typing import Any

import orjson
import pytest

from online_models.contract import (
    MAX_CATEGORY_CHARS,
    MAX_PRICE,
    MAX_QUANTITY,
    RESERVED_KEY_PREFIX,
    Event,
    Rejection,
    parse_event,
)
from online_models.interest import MAX_LABEL_CHARS, InterestModel
from online_models.profile import ProfileConfig, UserState, apply_event
from streams.runtime.continuity import mark_key
from streams.storage.schema import SegmentMembership, SegmentTransition, UserProfile

pytestmark = pytest.mark.unit
TS = 1_767_225_600  # 2026-01-01
ID_FIELDS = ("event_id", "user_id", "session_id", "item_id", "category")
CONTROLS = ("\x00", "\x01", "\x1b", "\x1f", "\x7f", "\x80", "\x85", "\x9f")


def _event(**fields: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "user_id": "u-1", "type": "purchase", "ts": TS,
            "price": 10.0, **fields}


@pytest.mark.parametrize("field", ID_FIELDS)
@pytest.mark.parametrize("char", CONTROLS)
def test_parse_event__control_character_in_id_fields_is_rejected(field: str, char: str) -> None:
    raw = orjson.dumps(_event(**{field: f"ab{char}cd"}))  # as JSON bytes, the \\u escape
    got = parse_event(raw)
    assert isinstance(got, Rejection)
    assert got.reason == f"control_char:{field}"
    assert got.detail == f"U+{ord(char):04X} at 2"


@pytest.mark.parametrize("field", ID_FIELDS)
def test_parse_event__lone_surrogate_in_id_fields_is_rejected(field: str) -> None:
    got = parse_event(_event(**{field: "ab\udc80"}))  # a decoded dict can carry one
    assert isinstance(got, Rejection) and got.reason == f"lone_surrogate:{field}"


def test_parse_event__ordinary_unicode_ids_pass() -> None:
    got = parse_event(_event(user_id="ülkü-ß-東京-🙂", category="Küche & Bad"))
    assert isinstance(got, Event) and got.user_id == "ülkü-ß-東京-🙂"


@pytest.mark.parametrize("field", ["query", "text"])
def test_parse_event__free_text_refuses_controls_keeps_tab_and_newlines(field: str) -> None:
    got = parse_event(_event(type="review", rating=4, **{field: "a b\tc\nd\re f"}))
    assert isinstance(got, Event) and getattr(got, field) == "a b\tc\nd\re f"
    for bad, at in (("a\x00b", "U+0000 at 1"), ("ab\x7f", "U+007F at 2"), ("\x85", "U+0085 at 0")):
        got = parse_event(_event(type="review", rating=4, **{field: bad}))
        assert got == Rejection(f"control_char:{field}", at)
    got = parse_event(_event(type="review", rating=4, **{field: "x\udc80y"}))
    assert got == Rejection(f"lone_surrogate:{field}", "U+DC80 at 1")


@pytest.mark.parametrize("partition", [0, 3, 127])
def test_parse_event__internal_mark_key_as_user_id_is_dead_lettered(partition: int) -> None:
    key = mark_key(partition)
    assert key.startswith(RESERVED_KEY_PREFIX)
    got = parse_event(orjson.dumps(_event(user_id=key)))
    assert isinstance(got, Rejection) and got.reason == "control_char:user_id"
    assert parse_event(orjson.dumps(_event(user_id="\x00lifeline-next-offset:3"))) == got


@pytest.mark.parametrize(("fields", "reason"), [
    ({"price": MAX_PRICE * 1.0001}, "too_large:price"),
    ({"price": 1e300}, "too_large:price"),
    ({"quantity": MAX_QUANTITY + 1}, "too_large:quantity"),
    ({"quantity": 10**18}, "too_large:quantity"),
    ({"category": "c" * (MAX_CATEGORY_CHARS + 1)}, "oversized:category"),
    ({"user_id": 2**70}, "oversized:user_id"),
    ({"event_id": "\x00"}, "control_char:event_id"),
])
def test_parse_event__bounds_are_enforced(fields: dict[str, Any], reason: str) -> None:
    got = parse_event(_event(**fields))
    assert isinstance(got, Rejection) and got.reason == reason


def test_parse_event__bounds_themselves_are_valid_and_revenue_stays_finite() -> None:
    got = parse_event(_event(price=MAX_PRICE, quantity=MAX_QUANTITY))
    assert isinstance(got, Event) and got.amount == 1e11
    s, cfg = UserState(), ProfileConfig(dedup_max_ids=10)
    for i in range(1000):
        apply_event(s, Event(f"e-{i}", "u-1", "purchase", TS + i, price=MAX_PRICE,
                             quantity=MAX_QUANTITY), cfg)
    assert math.isfinite(s.revenue) and s.revenue == 1e14


def test_interest_label__two_256_char_categories_fit_the_segment_columns() -> None:
    a, b = "a" * MAX_CATEGORY_CHARS, "b" * MAX_CATEGORY_CHARS
    model = InterestModel(k=1, init_size=1)
    model.learn_one({a: 3.0, b: 2.0})
    label = model.label(0)
    columns = [UserProfile.__table__.c.interest_segment, SegmentMembership.__table__.c.segment,
               SegmentTransition.__table__.c.to_segment]
    assert len(label) == MAX_LABEL_CHARS
    assert all(len(label) <= col.type.length for col in columns)
    assert label.startswith("a" * 100) and label == model.label(0)
    other = InterestModel(k=1, init_size=1)
    other.learn_one({a: 3.0, "c" * MAX_CATEGORY_CHARS: 2.0})
    assert other.label(0) != label  # same head, different categories: still distinct
