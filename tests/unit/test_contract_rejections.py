"""Unit tests for `online_models.contract.parse_event` / `parse_message`: every dead-letter
reason they return.

``REJECTED`` lists one or more messages per reason (``REJECTED_BATCH``: whole collector
batches refused by ``parse_message``); the ``every_reason_in_the_source`` test
reads contract.py and fails when it can return a reason code that no case here produces, so a
new reason cannot land untested. (``bad_tick`` and ``processing_error`` come from the ingest
agent, not from the contract: tests/agent/test_dead_letters.py.)
"""

from __future__ import annotations

import ast
import math
import re
from pathlib import Path
from typing import Any

import orjson
import pytest

from online_models import contract
from online_models.contract import (
    MAX_BATCH_EVENTS,
    MAX_FUTURE_SKEW_S,
    MAX_MESSAGE_BYTES,
    Batch,
    Event,
    Rejection,
    parse_event,
    parse_message,
    parse_ts,
)

pytestmark = pytest.mark.unit

NOW = parse_ts("2026-11-30T00:00:00Z")
BASE: dict[str, Any] = {"event_id": "e1", "user_id": "u1", "type": "view",
                        "ts": "2026-11-22T08:00:00Z"}


def ev(**fields: Any) -> dict[str, Any]:
    """The base event with ``fields`` changed; a field set to ``...`` is removed."""
    out = {**BASE, **fields}
    return {k: v for k, v in out.items() if v is not ...}


def padded(size: int) -> bytes:
    """A valid event serialised to exactly ``size`` bytes (an unknown ``pad`` field)."""
    bare = len(orjson.dumps(ev(pad="")))
    return orjson.dumps(ev(pad="x" * (size - bare)))


# (message as bytes or dict, expected reason); a dict is also sent as its JSON bytes.
REJECTED: list[tuple[bytes | dict[str, Any], str]] = [
    (padded(MAX_MESSAGE_BYTES + 1), "oversized_message"),
    (b"{not json", "not_json"),
    (b"", "not_json"),
    (b'{"event_id": "e1",', "not_json"),
    (b'["a list"]', "not_object"),
    (b'"a string"', "not_object"),
    (b"42", "not_object"),
    (b"null", "not_object"),
    *[(ev(**{f: ...}), f"missing_field:{f}") for f in ("event_id", "user_id", "type", "ts")],
    (ev(type=None), "missing_field:type"),
    (ev(ts=None), "missing_field:ts"),
    *[(ev(**{f: ""}), f"empty_field:{f}") for f in ("event_id", "user_id", "type", "ts")],
    (ev(user_id="   "), "empty_field:user_id"),
    (ev(type=" \t"), "empty_field:type"),
    (ev(event_id=["e1"]), "bad_type:event_id"),
    (ev(user_id=True), "bad_type:user_id"),
    (ev(type=5), "bad_type:type"),
    (ev(item_id={"sku": 9}), "bad_type:item_id"),
    (ev(category=1.5), "bad_type:category"),
    (ev(query=["shoes"]), "bad_type:query"),
    (ev(text={"body": "great"}), "bad_type:text"),
    (ev(session_id=False), "bad_type:session_id"),
    (ev(price="9"), "bad_type:price"),
    (ev(price=True), "bad_type:price"),
    (ev(quantity="1"), "bad_type:quantity"),
    (ev(quantity=1.5), "bad_type:quantity"),
    (ev(rating="5"), "bad_type:rating"),
    *[(ev(**{f: "x" * (limit + 1)}), f"oversized:{f}")
      for f, limit in contract._LIMITS.items()],
    (ev(ts="noon"), "bad_timestamp"),
    (ev(ts="2026-13-45T00:00:00Z"), "bad_timestamp"),
    (ev(ts=True), "bad_timestamp"),
    (ev(ts=[1763798400]), "bad_timestamp"),
    (ev(ts={"at": 1763798400}), "bad_timestamp"),
    (ev(ts="1970-01-02T00:00:00Z"), "absurd_timestamp"),
    (ev(ts=0), "absurd_timestamp"),
    (ev(ts=-1), "absurd_timestamp"),
    (ev(ts=NOW + MAX_FUTURE_SKEW_S + 60), "absurd_timestamp"),
    (ev(ts=(NOW + MAX_FUTURE_SKEW_S + 60) * 1000), "absurd_timestamp"),  # epoch ms
    (ev(price=-0.01), "negative:price"),
    (ev(quantity=-1), "negative:quantity"),
    (ev(rating=-2), "negative:rating"),
    (ev(rating=0), "rating_out_of_range"),
    (ev(rating=6), "rating_out_of_range"),
    (ev(rating=4.5), "rating_out_of_range"),
    *[(ev(**{f: "a\x00b"}), f"control_char:{f}")
      for f in ("event_id", "user_id", "session_id", "item_id", "category")],
    (ev(user_id="\x00lifeline-next-offset:3"), "control_char:user_id"),  # a forged mark key
    (ev(user_id="u\x7f"), "control_char:user_id"),  # DEL
    (ev(category="shoes\x85"), "control_char:category"),  # C1
    (ev(text="great\x00"), "control_char:text"),  # free text: tab and newlines only
    (ev(query="a\x1bb"), "control_char:query"),
    (ev(price=contract.MAX_PRICE * 10), "too_large:price"),
    (ev(quantity=contract.MAX_QUANTITY + 1), "too_large:quantity"),
]
# Whole collector batches that parse_message refuses before applying any of their events.
REJECTED_BATCH: list[tuple[bytes, str]] = [
    (b"[]", "empty_batch"),
    (b'{"batch": []}', "empty_batch"),
    (b'{"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4", '
     b'"data": []}', "empty_batch"),
    (orjson.dumps([ev(event_id=f"e{i}") for i in range(MAX_BATCH_EVENTS + 1)]),
     "batch_too_large"),
    (orjson.dumps({"batch": [1] * (MAX_BATCH_EVENTS + 1)}), "batch_too_large"),
    (orjson.dumps([ev(event_id=f"e{i}", pad="x" * 600) for i in range(120)]),
     "oversized_message"),
]
# Values JSON cannot carry reach parse_event only as an already-decoded dict.
REJECTED_DICT_ONLY: list[tuple[dict[str, Any], str]] = [
    (ev(ts=math.nan), "bad_timestamp"),
    (ev(ts=math.inf), "bad_timestamp"),
    (ev(price=math.nan), "bad_type:price"),
    (ev(price=math.inf), "bad_type:price"),
    (ev(quantity=math.inf), "bad_type:quantity"),
    (ev(user_id="u\ud800"), "lone_surrogate:user_id"),  # not valid UTF-8: never from bytes
]


def case_id(case: tuple[Any, str]) -> str:
    return case[1]


@pytest.mark.parametrize(("message", "reason"), REJECTED, ids=[case_id(c) for c in REJECTED])
def test_parse_event__rejects_with_its_reason(message: bytes | dict[str, Any],
                                             reason: str) -> None:
    raw = message if isinstance(message, bytes) else orjson.dumps(message)
    got = parse_event(raw, now=NOW)
    assert isinstance(got, Rejection), got
    assert got.reason == reason, got
    assert len(got.detail) <= 200, "a detail is a bounded hint, never the payload"
    # The same message as text, and (when it is an object) already decoded, says the same.
    assert parse_event(raw.decode(), now=NOW) == got
    if isinstance(message, dict):
        assert parse_event(message, now=NOW) == got
    if not raw.lstrip().startswith(b"["):  # an array is a batch for parse_message
        assert parse_message(raw, now=NOW) == got


@pytest.mark.parametrize(("message", "reason"), REJECTED,
                         ids=[case_id(c) for c in REJECTED])
def test_parse_message__a_bad_event_in_a_batch_is_refused_alone_with_its_index(
        message: bytes | dict[str, Any], reason: str) -> None:
    if isinstance(message, bytes) and len(message) > MAX_MESSAGE_BYTES // 2:
        pytest.skip("too big to share a message with other events")
    try:
        item = orjson.loads(message) if isinstance(message, bytes) else message
    except orjson.JSONDecodeError:
        pytest.skip("not JSON: cannot be an item of a JSON batch")
    good = [ev(event_id="g1"), ev(event_id="g2")]
    for envelope in ([good[0], item, good[1]], {"batch": [good[0], item, good[1]]}):
        got = parse_message(orjson.dumps(envelope), now=NOW)
        assert isinstance(got, Batch), got
        [(index, refused)] = got.rejected
        assert index == 1 and refused.reason == (
            "not_object" if not isinstance(item, dict) else reason)
        assert [(i, e.event_id) for i, e in got.events] == [(0, "g1"), (2, "g2")]
        assert got.raw[1] == item


@pytest.mark.parametrize(("message", "reason"), REJECTED_BATCH,
                         ids=[case_id(c) for c in REJECTED_BATCH])
def test_parse_message__refuses_a_whole_batch_with_its_reason(message: bytes,
                                                              reason: str) -> None:
    got = parse_message(message, now=NOW)
    assert isinstance(got, Rejection) and got.reason == reason, got
    assert len(got.detail) <= 200


def test_parse_message__accepts_each_envelope_of_contract_events() -> None:
    events = [ev(event_id="e1"), ev(event_id="e2", type="purchase", price=3.0)]
    shapes = {
        "array": events,
        "segment": {"batch": events, "sentAt": "2026-11-22T08:00:01Z", "context": {}},
        "snowplow": {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/"
                               "jsonschema/1-0-4", "data": events},
    }
    for name, shape in shapes.items():
        got = parse_message(orjson.dumps(shape), now=NOW)
        assert isinstance(got, Batch) and got.envelope == name, got
        assert [e for _, e in got.events] == [parse_event(e, now=NOW) for e in events]
        assert got.rejected == []
    # A single event stays one event, even with a key an envelope would use.
    assert parse_message(orjson.dumps(ev(batch=[1], data=[2], schema="x")), now=NOW) == \
        parse_event(ev(), now=NOW)
    # Field names of other trackers are not mapped: such items are refused one by one.
    segment_native = {"messageId": "m1", "userId": "u1", "type": "track",
                      "event": "Order Completed", "timestamp": "2026-11-22T08:00:00Z"}
    got = parse_message(orjson.dumps({"batch": [segment_native]}), now=NOW)
    assert isinstance(got, Batch) and got.rejected == [(0, Rejection("missing_field:event_id"))]
    # No nesting: a batch inside a batch is an item that is not an event.
    nested = parse_message(orjson.dumps([[ev()]]), now=NOW)
    assert isinstance(nested, Batch) and nested.rejected == [(0, Rejection("not_object",
                                                                            "list"))]


@pytest.mark.parametrize(("message", "reason"), REJECTED_DICT_ONLY,
                         ids=[case_id(c) for c in REJECTED_DICT_ONLY])
def test_parse_event__rejects_non_finite_numbers(message: dict[str, Any], reason: str) -> None:
    got = parse_event(message, now=NOW)
    assert isinstance(got, Rejection) and got.reason == reason, got


def test_parse_event__accepts_every_bound_exactly() -> None:
    at_limits = ev(**{f: "x" * limit for f, limit in contract._LIMITS.items()},
                   price=0, quantity=0, rating=1)
    assert isinstance(parse_event(orjson.dumps(at_limits), now=NOW), Event)
    assert isinstance(parse_event(padded(MAX_MESSAGE_BYTES), now=NOW), Event)
    assert len(padded(MAX_MESSAGE_BYTES)) == MAX_MESSAGE_BYTES
    for ts in (contract.MIN_TS, NOW + MAX_FUTURE_SKEW_S, (NOW + MAX_FUTURE_SKEW_S) * 1000):
        assert isinstance(parse_event(ev(ts=ts), now=NOW), Event), ts
    assert isinstance(parse_event(ev(rating=5), now=NOW), Event)
    # The skew is a parameter: a stricter worker refuses what the default accepts.
    an_hour_ahead = ev(ts=NOW + 3600)
    assert isinstance(parse_event(an_hour_ahead, now=NOW), Event)
    assert parse_event(an_hour_ahead, now=NOW, max_future_skew_s=60) == Rejection(
        "absurd_timestamp", repr(NOW + 3600))


def test_parse_event__normalises_what_it_accepts() -> None:
    got = parse_event(ev(type="wave", ts=1763798400000, user_id=42, quantity=2.0), now=NOW)
    assert isinstance(got, Event)
    assert (got.type, got.ts, got.user_id, got.quantity) == ("other", 1763798400.0, "42", 2)
    assert parse_event(ev(ts="2026-11-22T08:00:00"), now=NOW).ts == 1795334400.0  # naive: UTC


# --- every reason code contract.py can return has a case above ----------------------------

_CODE = re.compile(r"^[a-z][a-z_]*$")
_RAISERS = {"_Reject", "Rejection", "ValueError"}


def _strings(node: ast.expr, constants: dict[str, str]) -> list[str] | None:
    """The literal head(s) an expression can take; None when it cannot be read statically."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.Name) and node.id in constants:
        return [constants[node.id]]
    if isinstance(node, ast.JoinedStr) and node.values:
        head = node.values[0]
        if isinstance(head, ast.Constant) and isinstance(head.value, str):
            return [head.value]
        if isinstance(head, ast.FormattedValue):
            return _strings(head.value, constants)
    if isinstance(node, ast.IfExp):
        body, orelse = _strings(node.body, constants), _strings(node.orelse, constants)
        return None if body is None or orelse is None else body + orelse
    return None


def _forwarded(node: ast.expr) -> bool:
    """``rej.reason`` or ``str(exc)``: a reason raised elsewhere in the module, passed on."""
    return ((isinstance(node, ast.Attribute) and node.attr == "reason")
            or (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "str"))


def reason_codes_in_source() -> tuple[set[str], list[str]]:
    """Reason codes (the part before ``:``) contract.py raises or returns, and what it
    passes as a reason that cannot be read statically."""
    tree = ast.parse(Path(contract.__file__).read_text())
    constants = {t.id: n.value.value for n in tree.body if isinstance(n, ast.Assign)
                 and isinstance(n.value, ast.Constant) and isinstance(n.value.value, str)
                 for t in n.targets if isinstance(t, ast.Name)}
    codes: set[str] = set()
    unreadable: list[str] = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in _RAISERS and node.args):
            continue
        heads = _strings(node.args[0], constants)
        if heads is None:
            if not _forwarded(node.args[0]):
                unreadable.append(f"line {node.lineno}: {ast.unparse(node)}")
            continue
        codes.update(code for h in heads if _CODE.match(code := h.split(":", 1)[0]))
    return codes, unreadable


def test_parse_event__every_reason_in_the_source_is_tested() -> None:
    codes, unreadable = reason_codes_in_source()
    assert not unreadable, f"pass reasons as literals so this test can see them: {unreadable}"
    assert {"oversized_message", "not_json", "bad_timestamp", "rating_out_of_range"} <= codes
    tested = {reason.split(":", 1)[0]
              for _, reason in [*REJECTED, *REJECTED_DICT_ONLY, *REJECTED_BATCH]}
    assert codes - tested == set(), "reasons parse_event can return with no case in REJECTED"
    assert tested - codes == set(), "cases for reasons contract.py no longer has"


def test_parse_event__every_size_limit_is_tested() -> None:
    tested = {r.split(":", 1)[1] for _, r in REJECTED if r.startswith("oversized:")}
    assert tested == set(contract._LIMITS)
