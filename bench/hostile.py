"""Hostile ``user-events`` messages: hypothesis strategies and mutations of valid events.

Used by the fault suite (tests/integration/test_fault_suite.py) and by ``bench/fuzz.py`` for
bigger runs. Every message carries its class and what the in-process contract says of it
(``expected``: a dead-letter reason, or ``"accepted"``), computed once at generation.
A mutation the contract accepts is moved to a user of its own (``hx-<n>``): hostile input
may create its own users, but it must never change a valid user's totals.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st

from online_models.contract import Batch, Event, Rejection, parse_message
from streams.runtime.continuity import mark_key
from streams.topics import TICK_HEADER

FIELDS = ("event_id", "user_id", "type", "ts", "item_id", "category", "price", "quantity",
          "query", "rating", "text", "session_id")
TEXT_FIELDS = ("event_id", "user_id", "item_id", "category", "query", "text", "session_id")
NUMBER_FIELDS = ("price", "quantity", "rating", "ts")
SKEW_S = 86_400.0  # the worker's LIFELINE_MAX_FUTURE_SKEW_S (default)


@dataclass
class Hostile:
    """One hostile message, its class, and the contract's verdict (``expected``)."""

    cls: str
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]] | None = None
    expected: str = ""


def parse_event(value: bytes, *, now: float | None = None,
                max_future_skew_s: float = SKEW_S) -> Event | Rejection:
    """What the worker makes of one message, as one verdict (``contract.parse_message``).

    A collector batch counts as its first valid event if it has one, else as its last refused
    item (the last dead letter of its origin).
    """
    parsed = parse_message(value, now=now, max_future_skew_s=max_future_skew_s)
    if not isinstance(parsed, Batch):
        return parsed
    events = parsed.events
    return events[0][1] if events else parsed.rejected[-1][1]


def verdict(value: bytes, now: float) -> str:
    """The contract's reason for ``value``, or ``"accepted"``."""
    parsed = parse_event(value, now=now, max_future_skew_s=SKEW_S)
    return parsed.reason if isinstance(parsed, Rejection) else "accepted"


def tick_refused(value: bytes) -> bool:
    """True when the worker's tick parser refuses ``value`` (``bad_tick``)."""
    try:
        order = orjson.loads(value)
        at = order.get("at")
        _ = float(at) if at is not None else 0.0
        bool(order.get("all"))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError):
        return True
    return False


def _dumps(obj: Any) -> bytes:
    # json, not orjson: integers beyond 64 bits and NaN / Infinity tokens are hostile input too
    return json.dumps(obj, ensure_ascii=False, allow_nan=True).encode("utf-8", "surrogatepass")


def drawn(strategy: st.SearchStrategy[Any], n: int, rng_seed: int) -> list[Any]:
    """Up to ``n`` examples of ``strategy``, reproducibly (hypothesis' generate phase only)."""
    out: list[Any] = []

    @seed(rng_seed)
    @settings(max_examples=n, database=None, phases=[Phase.generate], deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example: Any) -> None:
        out.append(example)

    collect()
    return out


_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2 ** 80), max_value=2 ** 80),
    st.floats(), st.text(max_size=300), st.binary(max_size=40).map(lambda b: b.hex()),
    st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                         max_size=2),
)
EVENT_LIKE = st.fixed_dictionaries({}, optional={f: _scalar for f in FIELDS})
ANY_JSON = st.recursive(st.one_of(st.none(), st.booleans(), st.floats(), st.integers(),
                                  st.text(max_size=50)),
                        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
                            st.text(max_size=10), kids, max_size=4), max_leaves=20)


def from_hypothesis(n: int, rng_seed: int) -> list[Hostile]:
    """Event-shaped objects with arbitrary values, arbitrary JSON, arbitrary bytes."""
    third = n // 3
    if third < 1:
        return []
    out = [Hostile("hyp_event_like", f"hk-{i}".encode(), _dumps(obj))
           for i, obj in enumerate(drawn(EVENT_LIKE, third, rng_seed))]
    out += [Hostile("hyp_any_json", None, _dumps(obj))
            for obj in drawn(ANY_JSON, third, rng_seed + 1)]
    out += [Hostile("hyp_bytes", key or None, value) for key, value in drawn(
        st.tuples(st.binary(max_size=20), st.binary(max_size=2000)), n - 2 * third, rng_seed + 2)]
    return out


Mutation = Callable[[dict[str, Any], random.Random, float], "dict[str, Any] | bytes"]


def _set(field: str, value: Any) -> Mutation:
    def mutate(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
        return {**e, field: value}
    return mutate


def _wrong_type(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    field = rng.choice(FIELDS)
    bad = [True, False, [1, 2], {"a": 1}]
    if field in NUMBER_FIELDS:
        bad += ["12", "NaN", ""]
    return {**e, field: rng.choice(bad)}


def _missing(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    field = rng.choice(("event_id", "user_id", "type", "ts"))
    return {k: v for k, v in e.items() if k != field}


def _empty(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    return {**e, rng.choice(("event_id", "user_id", "type")): rng.choice(("", "   ", "\t"))}


def _non_utf8(e: dict[str, Any], rng: random.Random, now: float) -> bytes:
    raw = orjson.dumps(e)
    cut = raw.index(b'"', raw.index(b'"event_id"') + 11) + 1  # inside the event id string
    return raw[:cut] + rng.choice((b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80")) + raw[cut:]


def _raw_number(e: dict[str, Any], rng: random.Random, now: float) -> bytes:
    field = rng.choice(("price", "quantity", "ts", "rating"))
    token = rng.choice((b"NaN", b"Infinity", b"-Infinity", b"1e999", b"-1e999"))
    return orjson.dumps({**e, field: 0}).replace(f'"{field}":0'.encode(), f'"{field}":'.encode()
                                                  + token)


def _huge(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    field = rng.choice(("price", "quantity", "ts", "rating"))
    return {**e, field: rng.choice((1e308, 2 ** 64, 10 ** 30, -1e308, -(2 ** 63)))}


def _tiny(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    field, value = rng.choice((("ts", 5e-324), ("ts", 0), ("ts", -1), ("price", -5e-324),
                               ("quantity", -1), ("rating", 0), ("ts", 1e-300)))
    return {**e, field: value}


def _bad_ts(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    return {**e, "ts": rng.choice(("noon", "2026-13-45T99:00:00Z", "1970-01-02T00:00:00Z",
                                   now + 10 * 86_400, (now + 40 * 86_400) * 1000, "", "0"))}


def _oversized(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    field = rng.choice(TEXT_FIELDS)
    size = {"query": 1100, "text": 12_000}.get(field, 300)
    return {**e, field: "x" * size}


def _huge_message(e: dict[str, Any], rng: random.Random, now: float) -> bytes:
    if rng.random() < 0.5:
        return bytes(rng.randrange(32) for _ in range(200_000))  # the 200 KB control bytes
    return orjson.dumps({**e, "text": "\x01" * 70_000})


def _control(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    field = rng.choice(TEXT_FIELDS)
    char = rng.choice(("\x00", "\x01", "\x1b", "\x7f", "\n"))
    value = str(e.get(field) or "v")
    at = rng.randrange(len(value) + 1)
    return {**e, field: value[:at] + char + value[at:]}


def _forged_internal(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    return {**e, "user_id": rng.choice((mark_key(rng.randrange(4)), "\x00lifeline-next-offset:x",
                                        mark_key(0) + "0"))}


def _bad_rating(e: dict[str, Any], rng: random.Random, now: float) -> dict[str, Any]:
    return {**e, "type": "review", "rating": rng.choice((0, 6, 2.5, -1, 100))}


def _nested(e: dict[str, Any], rng: random.Random, now: float) -> bytes:
    depth = rng.choice((600, 5000))
    return b'{"event_id":' + b"[" * depth + b"]" * depth + b"}"


def _not_object(e: dict[str, Any], rng: random.Random, now: float) -> bytes:
    # An array is a collector batch: empty, or holding an item that is not an event.
    return rng.choice((b"[]", b"42", b'"event"', b"null", orjson.dumps([[e]])))


MUTATIONS: dict[str, Mutation] = {
    "wrong_type": _wrong_type, "missing_field": _missing, "empty_field": _empty,
    "non_utf8": _non_utf8, "nan_inf_tokens": _raw_number, "huge_number": _huge,
    "tiny_number": _tiny, "bad_timestamp": _bad_ts, "oversized_field": _oversized,
    "control_chars": _control, "forged_internal_id": _forged_internal,
    "bad_rating": _bad_rating, "deep_nesting": _nested, "not_object": _not_object,
    "negative_price": _set("price", -3.0),
}
TICK_BODIES = (b"not json", b'{"at":"soon"}', b"[1,2]", b'{"at":[1]}', b'{"at":{}}', b"null",
               b'"tick"', b'{"at":"1e999x"}', b"\xff\xfe", b"42")


def from_mutations(valid: list[dict[str, Any]], n: int, rng: random.Random,
                   now: float) -> list[Hostile]:
    """``n`` mutated copies of valid events (every class of :data:`MUTATIONS`, plus forged
    ticks and a few oversized messages), keyed like the events they came from. Well-formed
    ticks from the far future are counted as accepted: the worker caps them, never refuses
    them."""
    valid_users = {e["user_id"] for e in valid}
    names = sorted(MUTATIONS)
    out: list[Hostile] = []
    for i in range(n):
        e = rng.choice(valid)
        if i % 500 == 257:  # well-formed ticks from the far future: capped, never refused
            body = orjson.dumps({"at": rng.choice((now + 50 * 365 * 86_400, 1e300)),
                                 "all": True})
            out.append(Hostile("forged_tick_future", e["user_id"].encode(), body,
                               [(TICK_HEADER, b"1")], "accepted"))
            continue
        if i % 50 == 7:
            body = TICK_BODIES[i // 50 % len(TICK_BODIES)]
            assert tick_refused(body)
            out.append(Hostile("forged_tick", e["user_id"].encode(), body,
                               [(TICK_HEADER, b"1")], "bad_tick"))
            continue
        cls = "oversized_message" if i % 400 == 13 else names[i % len(names)]
        mutate = _huge_message if cls == "oversized_message" else MUTATIONS[cls]
        made = mutate({**e, "event_id": f"{e['event_id']}-m{i}"}, rng, now)
        value = made if isinstance(made, bytes) else _dumps(made)
        key = e["user_id"].encode()
        parsed = parse_event(value, now=now, max_future_skew_s=SKEW_S)
        if not isinstance(parsed, Rejection) and parsed.user_id in valid_users:
            # Accepted by the contract: give it a user of its own (never a valid user's).
            assert isinstance(made, dict)
            made = {**made, "user_id": f"hx-{i}-{made.get('user_id')}"}
            value = _dumps(made)
            parsed = parse_event(value, now=now, max_future_skew_s=SKEW_S)
        if not isinstance(parsed, Rejection):
            key = parsed.user_id.encode("utf-8", "surrogatepass")
        out.append(Hostile(cls, key, value, None, verdict(value, now)))
    return out


def generate(valid: list[dict[str, Any]], hostile: int, *, rng_seed: int = 11,
             hypothesis_share: float = 0.3) -> list[Hostile]:
    """``hostile`` messages: a share from hypothesis strategies, the rest mutations."""
    now = time.time()
    n_hyp = int(hostile * hypothesis_share)
    out = from_hypothesis(n_hyp, rng_seed)
    rng = random.Random(rng_seed)
    out += from_mutations(valid, hostile - len(out), rng, now)
    valid_users = {e["user_id"] for e in valid}
    for h in out:
        if not h.expected:
            h.expected = verdict(h.value, now)
        if h.expected == "accepted" and not h.headers:
            parsed = parse_event(h.value, now=now, max_future_skew_s=SKEW_S)
            assert not isinstance(parsed, Rejection) and parsed.user_id not in valid_users
    return out


def flood(user: str, events: int, duplicates: int, *, start: float) -> list[dict[str, Any]]:
    """Valid events flooding one user: ``events`` distinct ones, the second followed at once
    by ``duplicates`` copies of itself (applied once: they fall within the dedupe window)."""
    out = [{"event_id": f"{user}-{i}", "user_id": user, "type": ("view", "purchase")[i % 2],
            "ts": start + i, "category": f"c{i % 7}", "price": 2.5 if i % 2 else None,
            "quantity": 1} for i in range(events)]
    return out[:2] + [dict(out[1]) for _ in range(duplicates)] + out[2:]
