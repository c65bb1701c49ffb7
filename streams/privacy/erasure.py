"""Erasure requests, receipts and erased markers: the pure part of the right to erasure.

A request on ``user-erasures`` (key = user id) is JSON: ``{"user_id": "u-42",
"request_id": "...", "at": <epoch s | ISO-8601 | null>, "reason": "request"}``. ``at`` is the
event time the erasure covers: every event of the user up to then is erased, and is never
applied again when it is read a second time (recovery after a crash, a re-published history).
The worker that owns the user keeps an *erased marker* in place of the user's state: its key is
a digest of the user id (a table key, so it travels with the partition through the changelog)
and its value only that time. ``"internal": true`` marks a request whose ``user_id`` is already
the table key (a pseudonym when pseudonyms are on): the worker's own expiry of inactive users.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from online_models.contract import parse_ts
from online_models.profile import DAY, stored

ERASED_PREFIX = "\x00lifeline-erased:"
REASONS = ("request", "ttl")


def erased_key(user_id: str) -> str:
    """The table key of a user's erased marker: a digest, never the id itself.

    >>> erased_key("u-42")
    '\\x00lifeline-erased:...'
    >>> erased_key("u-42") == erased_key("u-42") != erased_key("u-43")
    True
    """
    digest = hashlib.blake2b(user_id.encode("utf-8"), digest_size=16,
                             person=b"lifeline-erased").hexdigest()
    return ERASED_PREFIX + digest


def is_erased_key(key: Any) -> bool:
    """True for the table key of an erased marker.

    >>> is_erased_key(erased_key("u-1")), is_erased_key("u-1")
    (True, False)
    """
    return isinstance(key, str) and key.startswith(ERASED_PREFIX)


def erased_before(marker: Any, ts: float) -> bool:
    """True when an event at ``ts`` is covered by the user's erased ``marker`` (the table's
    value, ``{"at": ts}`` as JSON bytes, or None).

    >>> erased_before(b'{"at":100.0}', 99.0), erased_before({"at": 100.0}, 101.0)
    (True, False)
    >>> erased_before(None, 1.0)
    False
    """
    marker = stored(marker)
    return isinstance(marker, dict) and ts <= float(marker.get("at", 0.0))


@dataclass(frozen=True, slots=True)
class ErasureRequest:
    """One user to erase: every event up to event time ``at`` (epoch s)."""

    user_id: str
    request_id: str
    at: float
    reason: str = "request"
    internal: bool = False


def request_value(user_id: str, *, at: float, reason: str = "request",
                  request_id: str | None = None, internal: bool = False) -> bytes:
    """A request's message value (its key is ``user_id``).

    >>> orjson.loads(request_value("u-42", at=10.0, request_id="r1"))
    {'user_id': 'u-42', 'request_id': 'r1', 'at': 10.0, 'reason': 'request', 'internal': False}
    """
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")
    return orjson.dumps({"user_id": user_id, "request_id": request_id or uuid.uuid4().hex,
                         "at": at, "reason": reason, "internal": internal})


def parse_request(value: bytes | None, *, now: float) -> ErasureRequest | str:
    """A request from a message value, or why it is refused (a short reason).

    ``at`` defaults to ``now`` (the wall clock: everything the user sent so far).

    >>> parse_request(b'{"user_id": "u-42", "request_id": "r1"}', now=5.0)
    ErasureRequest(user_id='u-42', request_id='r1', at=5.0, reason='request', internal=False)
    >>> parse_request(b'{"user_id": ""}', now=5.0), parse_request(b"[1]", now=5.0)
    ('missing_user_id', 'not_an_object')
    """
    try:
        raw = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return "not_json"
    if not isinstance(raw, dict):
        return "not_an_object"
    user_id = raw.get("user_id")
    if not isinstance(user_id, str) or not user_id or len(user_id) > 256:
        return "missing_user_id"
    reason = raw.get("reason") or "request"
    if reason not in REASONS:
        return "bad_reason"
    at = raw.get("at")
    try:
        cutoff = now if at is None else parse_ts(at)
    except (TypeError, ValueError):
        return "bad_at"
    request_id = str(raw.get("request_id") or uuid.uuid4().hex)[:64]
    return ErasureRequest(user_id, request_id, float(cutoff), reason, bool(raw.get("internal")))


def expired(last_seen: float | None, watermark: float, ttl_days: float) -> bool:
    """True when a user last seen at ``last_seen`` (event time; None: never) was last seen
    more than ``ttl_days`` before ``watermark``; never with ``ttl_days`` 0.

    >>> expired(0.0, 731 * DAY, 730), expired(0.0, 700 * DAY, 730), expired(None, 9e9, 1)
    (True, False, False)
    >>> expired(0.0, 9e9, 0)
    False
    """
    if ttl_days <= 0 or last_seen is None:
        return False
    return watermark - last_seen > ttl_days * DAY


def iso(ts: float) -> str:
    """Epoch seconds as ISO-8601 UTC.

    >>> iso(0.0)
    '1970-01-01T00:00:00+00:00'
    """
    return datetime.fromtimestamp(ts, tz=UTC).isoformat()


def receipt(request: ErasureRequest, user_key: str, *, covered_to: float, erased_at: float,
            state: bool, schedule: bool, rows: dict[str, int]) -> dict[str, Any]:
    """What was erased, for ``erasure-receipts`` (key = the user's table key).

    >>> r = receipt(ErasureRequest("u-42", "r1", 0.0), "u-42", covered_to=0.0, erased_at=0.0,
    ...             state=True, schedule=True, rows={"user_profiles": 1})
    >>> r["removed"]
    {'state': True, 'schedule': True, 'changelog': 'tombstone', 'rows': {'user_profiles': 1}}
    """
    return {
        "request_id": request.request_id,
        "user_id": user_key,
        "reason": request.reason,
        "events_until": iso(covered_to),
        "erased_at": iso(erased_at),
        "removed": {"state": state, "schedule": schedule,
                    "changelog": "tombstone" if state else "none",
                    "rows": rows},
    }
