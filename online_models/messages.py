"""What Lifeline tells marketing tools: segment changes, win-back alerts and their outcomes.

Each is a frozen record with one JSON encoding, the fixed shapes of DESIGN.md:
:meth:`to_dict` / :meth:`to_json` write the wire form (published on ``segment-changes``,
``churn-alerts`` and ``winback-outcomes``, and the source of the database rows), and
``from_dict`` / ``from_json`` read it back, checking every field (``ValueError`` naming the
offending one). Times are ISO-8601 UTC strings with a trailing ``Z``.

Pure: no Faust, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson

from online_models import modeldata as md
from online_models.contract import MAX_ID_CHARS as MAX_ID


def _time(value: Any, path: str) -> str:
    text = md.text(value, path, max_len=64)
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{path}: {text!r} is not an ISO-8601 time") from None
    return text


def _name(value: Any, path: str) -> str | None:
    return None if value is None else md.text(value, path, max_len=MAX_ID)


def _amount(value: Any, path: str) -> float | int:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 2**53:
        return value  # an int stays an int (a coupon's percent)
    return md.num(value, path, lo=0)


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        return md.obj(orjson.loads(raw), what)
    except orjson.JSONDecodeError:
        raise ValueError(f"{what}: not JSON") from None


@dataclass(frozen=True, slots=True)
class SegmentChange:
    """A user moved in one segment dimension (``None``: no segment in that dimension).

    The wire keys of ``from_segment`` / ``to_segment`` are ``from`` / ``to``.

    >>> c = SegmentChange("1e4b", "u1", "lifecycle", None, "new", "2026-01-01T00:00:00Z",
    ...                   "first_purchase")
    >>> c.to_json()
    b'{"change_id":"1e4b","user_id":"u1","dimension":"lifecycle","from":null,"to":"new","at":"2026-01-01T00:00:00Z","reason":"first_purchase"}'
    >>> SegmentChange.from_json(c.to_json()) == c
    True
    """

    change_id: str
    user_id: str
    dimension: str
    from_segment: str | None
    to_segment: str | None
    at: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """The wire form ``{change_id, user_id, dimension, from, to, at, reason}``."""
        return {"change_id": self.change_id, "user_id": self.user_id,
                "dimension": self.dimension, "from": self.from_segment, "to": self.to_segment,
                "at": self.at, "reason": self.reason}

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON bytes."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any) -> SegmentChange:
        """The record of :meth:`to_dict` (every field checked)."""
        d = md.obj(d, "segment change")
        return cls(md.text(d.get("change_id"), "change_id", max_len=MAX_ID),
                   md.text(d.get("user_id"), "user_id", max_len=MAX_ID),
                   md.text(d.get("dimension"), "dimension", max_len=MAX_ID),
                   _name(d.get("from"), "from"), _name(d.get("to"), "to"),
                   _time(d.get("at"), "at"), md.text(d.get("reason"), "reason", max_len=MAX_ID))

    @classmethod
    def from_json(cls, raw: bytes) -> SegmentChange:
        """The record of :meth:`to_json` bytes."""
        return cls.from_dict(_load(raw, "segment change"))


@dataclass(frozen=True, slots=True)
class Alert:
    """A win-back alert for a user at risk (``control``: recorded, never published).

    ``reasons`` are ``(feature, weight)`` pairs, ``offer`` is ``{"kind", "value"}`` and
    ``value`` the user's value segment.

    >>> a = Alert("9f", "u-42", "1970-01-01T00:00:00Z", 0.8, 0.3, "at_risk", None,
    ...           (("recency_days", 0.4),), {"kind": "coupon", "value": 10}, ("shoes",), False,
    ...           3, "1970-01-08T00:00:00Z")
    >>> a.to_dict()["reasons"], a.to_dict()["offer"]
    ([['recency_days', 0.4]], {'kind': 'coupon', 'value': 10})
    >>> Alert.from_json(a.to_json()) == a
    True
    """

    alert_id: str
    user_id: str
    at: str
    churn_risk: float
    p_alive: float
    lifecycle: str | None
    value: str | None
    reasons: tuple[tuple[str, float], ...]
    offer: dict[str, Any]
    categories: tuple[str, ...]
    control: bool
    model_version: int
    expires_at: str

    def to_dict(self) -> dict[str, Any]:
        """The wire form (the ``churn-alerts`` message of DESIGN.md)."""
        return {"alert_id": self.alert_id, "user_id": self.user_id, "at": self.at,
                "churn_risk": self.churn_risk, "p_alive": self.p_alive,
                "lifecycle": self.lifecycle, "value": self.value,
                "reasons": [[n, w] for n, w in self.reasons], "offer": dict(self.offer),
                "categories": list(self.categories), "control": self.control,
                "model_version": self.model_version, "expires_at": self.expires_at}

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON bytes."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any) -> Alert:
        """The record of :meth:`to_dict` (every field checked)."""
        d = md.obj(d, "alert")
        reasons = tuple((md.text(n, "reasons.name", max_len=MAX_ID), md.num(w, "reasons.weight"))
                        for n, w in (md.pair(p, "reasons[]")
                                     for p in md.seq(d.get("reasons"), "reasons", max_len=64)))
        offer = md.obj(d.get("offer"), "offer")
        control = d.get("control")
        if not isinstance(control, bool):
            raise ValueError(f"control: expected a boolean, got {control!r}")
        return cls(md.text(d.get("alert_id"), "alert_id", max_len=MAX_ID),
                   md.text(d.get("user_id"), "user_id", max_len=MAX_ID),
                   _time(d.get("at"), "at"),
                   md.num(d.get("churn_risk"), "churn_risk", lo=0, hi=1),
                   md.num(d.get("p_alive"), "p_alive", lo=0, hi=1),
                   _name(d.get("lifecycle"), "lifecycle"), _name(d.get("value"), "value"),
                   reasons,
                   {"kind": md.text(offer.get("kind"), "offer.kind", max_len=MAX_ID),
                    "value": _amount(offer.get("value"), "offer.value")},
                   tuple(md.text(c, "categories[]", max_len=MAX_ID)
                         for c in md.seq(d.get("categories"), "categories", max_len=64)),
                   control, md.integer(d.get("model_version"), "model_version"),
                   _time(d.get("expires_at"), "expires_at"))

    @classmethod
    def from_json(cls, raw: bytes) -> Alert:
        """The record of :meth:`to_json` bytes."""
        return cls.from_dict(_load(raw, "alert"))


@dataclass(frozen=True, slots=True)
class Outcome:
    """A purchase that answered a user's last alert (treated or control), with its revenue.

    >>> o = Outcome("9f", "u1", "returned", 25.0, "1970-01-02T00:00:00Z", False)
    >>> list(o.to_dict())
    ['alert_id', 'user_id', 'outcome', 'revenue', 'at', 'control']
    >>> Outcome.from_json(o.to_json()) == o
    True
    """

    alert_id: str
    user_id: str
    outcome: str
    revenue: float
    at: str
    control: bool

    def to_dict(self) -> dict[str, Any]:
        """The wire form (the ``winback-outcomes`` message of DESIGN.md)."""
        return {"alert_id": self.alert_id, "user_id": self.user_id, "outcome": self.outcome,
                "revenue": self.revenue, "at": self.at, "control": self.control}

    def to_json(self) -> bytes:
        """:meth:`to_dict` as JSON bytes."""
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, d: Any) -> Outcome:
        """The record of :meth:`to_dict` (every field checked)."""
        d = md.obj(d, "outcome")
        control = d.get("control")
        if not isinstance(control, bool):
            raise ValueError(f"control: expected a boolean, got {control!r}")
        return cls(md.text(d.get("alert_id"), "alert_id", max_len=MAX_ID),
                   md.text(d.get("user_id"), "user_id", max_len=MAX_ID),
                   md.text(d.get("outcome"), "outcome", max_len=MAX_ID),
                   md.num(d.get("revenue"), "revenue", lo=0), _time(d.get("at"), "at"), control)

    @classmethod
    def from_json(cls, raw: bytes) -> Outcome:
        """The record of :meth:`to_json` bytes."""
        return cls.from_dict(_load(raw, "outcome"))
