"""The ``user-events`` contract: validate raw bytes into an :class:`Event` or a rejection.

Pure: no Faust, no I/O. The ingest agent calls :func:`parse_message` on every message and
sends rejections to the dead-letter topic with the machine-readable ``reason`` returned here.

A message is one event (a JSON object, :func:`parse_event`) or a collector batch of events
(:func:`parse_message` returns a :class:`Batch`). Accepted batch shapes, and only these:

- a JSON array of events: ``[{event}, {event}, ...]``;
- Snowplow's ``payload_data`` envelope: an object with a string ``schema`` (an Iglu URI such
  as ``iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4``) and a list
  ``data``: ``{"schema": "iglu:...", "data": [{event}, ...]}``;
- Segment's batch envelope: an object with a list ``batch``: ``{"batch": [{event}, ...]}``
  (other keys such as ``sentAt``, ``context``, ``writeKey`` are ignored).

An object that carries ``event_id`` is always one event, whatever other keys it has. The
items of every envelope must be events in this contract's own shape: no field is renamed
(Snowplow's tracker-protocol ``eid`` / ``uid`` / ``dtm`` / ``e`` and Segment's ``messageId``
/ ``userId`` / ``timestamp`` / ``properties`` are not mapped; an item that only has those is
refused as ``missing_field:event_id``): producers, or a transform in the collector, write
contract events into the envelope. Each item is validated alone.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

EVENT_TYPES = frozenset(
    {
        "signup",
        "login",
        "view",
        "search",
        "add_to_cart",
        "remove_from_cart",
        "purchase",
        "refund",
        "review",
    }
)

MAX_MESSAGE_BYTES = 64 * 1024
# Events per collector batch at most (``LIFELINE_MAX_BATCH_EVENTS``): a bigger batch is refused
# whole (``batch_too_large``) before any of it is applied.
MAX_BATCH_EVENTS = 500
MAX_ID_CHARS = 256
MAX_CATEGORY_CHARS = 256
MAX_QUERY_CHARS = 1024
MAX_TEXT_CHARS = 10_000
# Money and counts: beyond these a value is a bug or an attack, not a sale. One event moves
# revenue by at most MAX_PRICE * MAX_QUANTITY = 1e11, so revenue stays finite (and exact to
# the cent in a float up to ~9e13, i.e. ~900 such events).
MAX_PRICE = 1e7
MAX_QUANTITY = 10_000
# Control characters: Unicode category Cc (C0 incl. NUL, DEL, C1) and lone surrogates (Cs)
# are refused in every field: ids and category reach keys, headers and columns, and free text
# (``query``, ``text``) is refused too, except for tab, newline and carriage return.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")
_SURROGATE = re.compile("[\ud800-\udfff]")
_TEXT_WHITESPACE = str.maketrans("\t\n\r", "   ")
_FREE_TEXT = frozenset({"query", "text"})
# Keys of internal records kept in user-keyed tables start with this character; no valid
# user id contains it (it is a control character), so the two key spaces never meet.
RESERVED_KEY_PREFIX = "\x00"
# Event times outside [MIN_TS, now + MAX_FUTURE_SKEW_S] are absurd.
MIN_TS = datetime(1990, 1, 1, tzinfo=UTC).timestamp()
MAX_FUTURE_SKEW_S = 86_400.0
_EPOCH_MS_THRESHOLD = 1e11  # numbers above this are epoch milliseconds

_LIMITS = {
    "event_id": MAX_ID_CHARS,
    "user_id": MAX_ID_CHARS,
    "item_id": MAX_ID_CHARS,
    "category": MAX_CATEGORY_CHARS,
    "session_id": MAX_ID_CHARS,
    "query": MAX_QUERY_CHARS,
    "text": MAX_TEXT_CHARS,
}


@dataclass(frozen=True, slots=True)
class Event:
    """A valid clickstream event; ``ts`` is epoch seconds (UTC), ``type`` is known or 'other'."""

    event_id: str
    user_id: str
    type: str
    ts: float
    item_id: str | None = None
    category: str | None = None
    price: float | None = None
    quantity: int = 1
    query: str | None = None
    rating: int | None = None
    text: str | None = None
    session_id: str | None = None

    @property
    def amount(self) -> float:
        """Price x quantity (0 when there is no price).

        >>> Event("e1", "u1", "purchase", 0.0, price=12.5, quantity=2).amount
        25.0
        >>> Event("e2", "u1", "view", 0.0).amount
        0.0
        """
        return (self.price or 0.0) * self.quantity


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a message was refused: ``reason`` is ``code`` or ``code:field``."""

    reason: str
    detail: str = ""


class _Reject(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.detail = detail


def parse_ts(value: Any, *, now: float | None = None,
             max_future_skew_s: float = MAX_FUTURE_SKEW_S) -> float:
    """Parse an ISO-8601 string or epoch seconds/milliseconds into epoch seconds (UTC).

    Raises ``ValueError`` with message ``bad_timestamp`` or ``absurd_timestamp``.

    >>> parse_ts("2025-11-22T08:00:00Z")
    1763798400.0
    >>> parse_ts(1763798400000)
    1763798400.0
    >>> parse_ts("yesterday")
    Traceback (most recent call last):
    ...
    ValueError: bad_timestamp
    """
    if isinstance(value, bool):
        raise ValueError("bad_timestamp")
    if isinstance(value, (int, float)):
        if not math.isfinite(value):
            raise ValueError("bad_timestamp")
        ts = float(value) / 1000.0 if abs(value) >= _EPOCH_MS_THRESHOLD else float(value)
    elif isinstance(value, str) and value:
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("bad_timestamp") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        ts = parsed.timestamp()
    else:
        raise ValueError("bad_timestamp")
    horizon = (now if now is not None else datetime.now(UTC).timestamp())
    if ts < MIN_TS or ts > horizon + max_future_skew_s:
        raise ValueError("absurd_timestamp")
    return ts


def _text(raw: dict[str, Any], field: str, *, required: bool = False) -> str | None:
    value = raw.get(field)
    if value is None:
        if required:
            raise _Reject(f"missing_field:{field}")
        return None
    if type(value) is str:  # the usual case: no conversion
        text = value
    else:
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise _Reject(f"bad_type:{field}", type(value).__name__)
        if isinstance(value, int) and not -(2**63) <= value < 2**64:
            raise _Reject(f"oversized:{field}", "integer beyond 64 bits")
        text = str(value)
    if len(text) > _LIMITS[field]:
        raise _Reject(f"oversized:{field}", f"{len(text)} > {_LIMITS[field]} chars")
    if not text.isprintable():  # fast path: every Cc and Cs character is non-printable
        if field in _FREE_TEXT:
            # Tab, newline and carriage return are text: checked as spaces (same offsets).
            _refuse_controls(text.translate(_TEXT_WHITESPACE), field)
        else:
            _refuse_controls(text, field)
    if required and not text.strip():
        raise _Reject(f"empty_field:{field}")
    return text


def _refuse_controls(text: str, field: str) -> None:
    bad = _CONTROL.search(text)
    if bad is not None:
        raise _Reject(f"control_char:{field}", f"U+{ord(bad.group()):04X} at {bad.start()}")
    bad = _SURROGATE.search(text)
    if bad is not None:
        raise _Reject(f"lone_surrogate:{field}", f"U+{ord(bad.group()):04X} at {bad.start()}")


def _number(raw: dict[str, Any], field: str, maximum: float | None = None) -> float | None:
    value = raw.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _Reject(f"bad_type:{field}", repr(value)[:64])
    if value < 0:
        raise _Reject(f"negative:{field}", repr(value)[:64])
    if maximum is not None and value > maximum:
        raise _Reject(f"too_large:{field}", f"{repr(value)[:64]} > {maximum:g}")
    return float(value)


def _validate(raw: Any, now: float | None, skew: float) -> Event:
    if not isinstance(raw, dict):
        raise _Reject("not_object", type(raw).__name__)
    event_id = _text(raw, "event_id", required=True)
    user_id = _text(raw, "user_id", required=True)
    kind = raw.get("type")
    if kind is None:
        raise _Reject("missing_field:type")
    if not isinstance(kind, str):
        raise _Reject("bad_type:type", type(kind).__name__)
    if not kind.strip():
        raise _Reject("empty_field:type")
    if "ts" not in raw or raw["ts"] is None or raw["ts"] == "":
        raise _Reject("missing_field:ts" if raw.get("ts") is None else "empty_field:ts")
    try:
        ts = parse_ts(raw["ts"], now=now, max_future_skew_s=skew)
    except ValueError as exc:
        raise _Reject(str(exc), repr(raw["ts"])[:64]) from None
    price = _number(raw, "price", MAX_PRICE)
    quantity = _number(raw, "quantity", MAX_QUANTITY)
    if quantity is not None and quantity != int(quantity):
        raise _Reject("bad_type:quantity", repr(raw["quantity"]))
    rating = _number(raw, "rating")
    if rating is not None and (rating != int(rating) or not 1 <= rating <= 5):
        raise _Reject("rating_out_of_range", repr(raw["rating"]))
    return Event(
        event_id=str(event_id),
        user_id=str(user_id),
        type=kind if kind in EVENT_TYPES else "other",
        ts=ts,
        item_id=_text(raw, "item_id"),
        category=_text(raw, "category"),
        price=price,
        quantity=1 if quantity is None else int(quantity),
        query=_text(raw, "query"),
        rating=None if rating is None else int(rating),
        text=_text(raw, "text"),
        session_id=_text(raw, "session_id"),
    )


def parse_event(
    data: bytes | str | dict[str, Any],
    *,
    now: float | None = None,
    max_future_skew_s: float = MAX_FUTURE_SKEW_S,
) -> Event | Rejection:
    """Validate one ``user-events`` message.

    An event more than ``max_future_skew_s`` after ``now`` (epoch seconds, default the wall
    clock) or before 1990 has an absurd timestamp.

    >>> ev = parse_event(b'{"event_id":"e1","user_id":"u1","type":"purchase",'
    ...                  b'"ts":"2026-11-22T08:00:00Z","price":59.0,"quantity":2}')
    >>> ev.user_id, ev.type, ev.amount
    ('u1', 'purchase', 118.0)
    >>> parse_event(b'{"event_id":"e1","user_id":"","type":"view","ts":0}')
    Rejection(reason='empty_field:user_id', detail='')
    >>> parse_event(b'not json').reason
    'not_json'
    >>> parse_event({"event_id": "e2", "user_id": "u1", "type": "wave", "ts": 1.7e9}).type
    'other'
    >>> parse_event({"event_id": "e3", "user_id": "\\x00u1", "type": "view", "ts": 1.7e9})
    Rejection(reason='control_char:user_id', detail='U+0000 at 0')
    >>> parse_event({"event_id": "e4", "user_id": "u1", "type": "purchase", "ts": 1.7e9,
    ...              "price": 2e7}).reason
    'too_large:price'
    """
    raw = _decoded(data) if isinstance(data, (bytes, bytearray, memoryview, str)) else data
    if isinstance(raw, Rejection):
        return raw
    return _checked(raw, now, max_future_skew_s)


def _decoded(data: bytes | bytearray | memoryview | str) -> Any:
    """The JSON value of a message, or why it is none (too large, not JSON)."""
    if len(data) > MAX_MESSAGE_BYTES:
        return Rejection("oversized_message", f"{len(data)} > {MAX_MESSAGE_BYTES} bytes")
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return Rejection("not_json", str(exc)[:120])


def _checked(raw: Any, now: float | None, skew: float) -> Event | Rejection:
    """One decoded event, validated."""
    try:
        return _validate(raw, now, skew)
    except _Reject as rej:
        return Rejection(rej.reason, rej.detail)


@dataclass(frozen=True, slots=True)
class Batch:
    """A collector batch: every item validated alone, in message order.

    ``envelope`` is ``"array"``, ``"snowplow"`` or ``"segment"``; ``items[i]`` is the
    :class:`Event` or :class:`Rejection` of ``raw[i]``, the item as decoded (kept to
    dead-letter a refused item alone).
    """

    envelope: str
    items: tuple[Event | Rejection, ...]
    raw: tuple[Any, ...]

    @property
    def events(self) -> list[tuple[int, Event]]:
        """The valid items with their index in the batch.

        >>> b = parse_message(b'[{"event_id":"e1","user_id":"u1","type":"view","ts":1e9}, 7]')
        >>> [(i, e.event_id) for i, e in b.events]
        [(0, 'e1')]
        """
        return [(i, item) for i, item in enumerate(self.items) if isinstance(item, Event)]

    @property
    def rejected(self) -> list[tuple[int, Rejection]]:
        """The refused items with their index in the batch.

        >>> parse_message(b'[{"event_id":"e1","user_id":"u1","type":"view","ts":1e9}, 7]'
        ...               ).rejected
        [(1, Rejection(reason='not_object', detail='int'))]
        """
        return [(i, item) for i, item in enumerate(self.items)
                if isinstance(item, Rejection)]


def _envelope(raw: Any) -> tuple[str, Any] | None:
    """``(name, items)`` when ``raw`` is an accepted batch shape, else None (one event)."""
    if isinstance(raw, list):
        return "array", raw
    if not isinstance(raw, dict) or "event_id" in raw:
        return None
    if isinstance(raw.get("batch"), list):
        return "segment", raw["batch"]
    if isinstance(raw.get("schema"), str) and isinstance(raw.get("data"), list):
        return "snowplow", raw["data"]
    return None


def parse_message(
    data: bytes | str,
    *,
    now: float | None = None,
    max_future_skew_s: float = MAX_FUTURE_SKEW_S,
    max_batch_events: int = MAX_BATCH_EVENTS,
) -> Event | Batch | Rejection:
    """Validate one ``user-events`` message: one event, or a collector batch of events.

    One event gives what :func:`parse_event` gives. A batch (see the module docstring for
    the accepted shapes) gives a :class:`Batch` whose items are validated one by one, or a
    :class:`Rejection` of the whole message: ``empty_batch`` (no item) or
    ``batch_too_large`` (more than ``max_batch_events`` items); the message size limit
    (``oversized_message``) holds for batches too.

    >>> one = b'{"event_id":"e1","user_id":"u1","type":"view","ts":1e9}'
    >>> parse_message(one).event_id
    'e1'
    >>> b = parse_message(b'{"batch":[' + one + b',{"event_id":"e2","user_id":"u1"}]}')
    >>> b.envelope, [type(i).__name__ for i in b.items], b.rejected[0][1].reason
    ('segment', ['Event', 'Rejection'], 'missing_field:type')
    >>> parse_message(b'{"schema":"iglu:com.snowplowanalytics.snowplow/payload_data/'
    ...               b'jsonschema/1-0-4","data":[' + one + b']}').envelope
    'snowplow'
    >>> parse_message(b'[]')
    Rejection(reason='empty_batch', detail='array')
    >>> parse_message(b'[' + b','.join([one] * 3) + b']', max_batch_events=2)
    Rejection(reason='batch_too_large', detail='3 > 2 events')
    """
    raw = _decoded(data)
    if isinstance(raw, Rejection):
        return raw
    shape = _envelope(raw)
    if shape is None:
        return _checked(raw, now, max_future_skew_s)
    envelope, items = shape
    if not items:
        return Rejection("empty_batch", envelope)
    if len(items) > max_batch_events:
        return Rejection("batch_too_large", f"{len(items)} > {max_batch_events} events")
    parsed = tuple(_checked(item, now, max_future_skew_s) for item in items)
    return Batch(envelope, parsed, tuple(items))


def iso(ts: float) -> str:
    """Epoch seconds as ISO-8601 UTC with a trailing ``Z``.

    >>> iso(0)
    '1970-01-01T00:00:00Z'
    """
    return datetime.fromtimestamp(ts, tz=UTC).isoformat().replace("+00:00", "Z")
