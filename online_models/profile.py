"""Per-user live profile and its event-time update ``(state, event) -> (state, applied)``.

Pure: no Faust, no I/O. The state is compact (a few hundred bytes serialized) so it can live in
a Faust table keyed by user id and travel through its changelog.

Serialized form (:meth:`UserState.to_bytes`): one flat JSON object, defaults omitted, each
field under the short key of :data:`KEYS`; the remembered event ids as base64; event types
counted under the codes of :data:`TYPE_CODES`; the times of :data:`RELATIVE_TIMES` as whole
milliseconds after ``last_seen`` (a JSON integer) wherever that gives back the very same
float, else as the float itself; the whole-second ``due``, ``rfm_sampled_at`` and first
label snapshot time (``pending_labels[1]``, online_models/labels.py) as seconds after
``int(last_seen)``. Every value decodes to the value it was (times as floats), so no
decision depends on the form. States written in the earlier form (long field names, the
bookkeeping fields under ``"ext"``, see :data:`EXT_KEYS`) still load.
"""

from __future__ import annotations

import base64
import math
import zlib
from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, NamedTuple

import orjson

from online_models.contract import Event
from online_models.dedupe import MAX_WINDOW_MINUTES, id_key, is_duplicate, minute, remember

DAY = 86_400.0

# How much one event of a type adds to the user's affinity for its category.
AFFINITY_WEIGHTS = {
    "view": 1.0,
    "search": 0.5,
    "add_to_cart": 3.0,
    "purchase": 5.0,
    "review": 2.0,
    "remove_from_cart": -1.0,
    "refund": -3.0,
}


@dataclass(frozen=True, slots=True)
class ProfileConfig:
    """How profiles are updated.

    Parameters
    ----------
    half_life_days
        Half-life of category affinities in event time (``LIFELINE_AFFINITY_HALF_LIFE_DAYS``).
    session_gap_minutes
        Inactivity that ends a session when events carry no ``session_id``.
    dedup_hours
        An ``event_id`` applied for the user within this many hours of the user's event-time
        clock is a duplicate, however many events came in between (``LIFELINE_DEDUP_HOURS``;
        kept to the minute, at most 720; see online_models/dedupe.py).
    dedup_max_ids
        Ids remembered per user at most (``LIFELINE_DEDUP_MAX_IDS``): 10 bytes each in the
        state. Past it the oldest go first; those still inside the window are counted in
        ``UserState.seen_evicted``. 5,000 covers a user with 2,000 events a day twice over.
    max_categories
        Affinities kept per user (the weakest are dropped).
    """

    half_life_days: float = 30.0
    session_gap_minutes: float = 30.0
    dedup_hours: float = 24.0
    dedup_max_ids: int = 5000
    max_categories: int = 12

    def __post_init__(self) -> None:
        if self.half_life_days <= 0 or self.session_gap_minutes <= 0:
            raise ValueError("half_life_days and session_gap_minutes must be > 0")
        if not 0 < self.dedup_hours * 60 <= MAX_WINDOW_MINUTES:
            raise ValueError(f"dedup_hours must be in (0, {MAX_WINDOW_MINUTES // 60}], "
                             f"got {self.dedup_hours}")
        if self.dedup_max_ids < 1 or self.max_categories < 1:
            raise ValueError("dedup_max_ids and max_categories must be >= 1")

    @property
    def dedup_minutes(self) -> int:
        """The dedupe window in whole minutes (rounded up).

        >>> ProfileConfig(dedup_hours=0.51).dedup_minutes
        31
        """
        return math.ceil(self.dedup_hours * 60)


@dataclass(slots=True)
class UserState:
    """Everything Lifeline remembers about one user (times are epoch seconds, event time)."""

    first_seen: float | None = None
    last_seen: float | None = None
    events: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    purchases: int = 0
    revenue: float = 0.0
    refunded: float = 0.0
    first_purchase: float | None = None
    last_purchase: float | None = None
    gap_n: int = 0
    gap_mean: float = 0.0  # days between purchases (Welford)
    gap_m2: float = 0.0
    sessions: int = 0
    session: int = 0  # crc32 of the current session id, 0 if none
    cart_open: int = 0
    cart_adds: int = 0
    cart_abandons: int = 0
    affinity: dict[str, float] = field(default_factory=dict)
    affinity_ts: float = 0.0
    seen: bytes = b""  # event ids applied within the dedupe window (online_models/dedupe.py)
    seen_evicted: int = 0  # ids the cap evicted while still inside the window
    offset: int = -1  # source offset of the last applied event (replay idempotence)
    sentiment: float | None = None
    reviews: int = 0
    churn_risk: float | None = None
    segments: dict[str, str] = field(default_factory=dict)
    # Bookkeeping of the step (under ``"ext"`` in the earlier serialized form, :data:`EXT_KEYS`).
    partition: int | None = None  # source partition of the user's last applied message
    due: int | None = None  # when the user must be re-assessed (whole epoch seconds)
    rescore_stretch: int = 0  # the rescore interval is 2 ** this times the base one
    rfm_sampled_at: int | None = None  # last RFM sample sent to the trainer (whole seconds)
    pending_labels: list[Any] = field(default_factory=list)  # online_models/labels.py
    bought_mask: int = 0  # bit i: pending snapshot i saw a purchase within its horizon
    alert_state: list[int] = field(default_factory=list)  # online_models/alerts.py
    lifecycle_evaluated_at: float | None = None  # latest event time the lifecycle was judged
    lifecycle_since: float | None = None  # event time the current lifecycle segment began

    @property
    def gap_std(self) -> float:
        """Standard deviation of inter-purchase gaps in days (0 with fewer than two gaps).

        >>> UserState(gap_n=3, gap_m2=8.0).gap_std, UserState(gap_n=1).gap_std
        (2.0, 0.0)
        """
        return math.sqrt(self.gap_m2 / (self.gap_n - 1)) if self.gap_n > 1 else 0.0

    def to_bytes(self) -> bytes:
        """Serialize compactly (defaults omitted, short keys); the size the state costs in a
        changelog and in the profile table's memory.

        The bytes are right-sized (:func:`storable`): the table keeps them for as long as
        the user is idle.

        >>> s = UserState(events=3, revenue=10.5)
        >>> UserState.from_bytes(s.to_bytes()) == s
        True
        >>> len(UserState().to_bytes()), UserState(events=3, revenue=10.5).to_bytes()
        (2, b'{"n":3,"r":10.5}')
        """
        return storable(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        """A compact JSON-ready dict: defaults omitted, the short keys of :data:`KEYS`,
        remembered ids as base64, event types as :data:`TYPE_CODES`, the
        :data:`RELATIVE_TIMES` as milliseconds after ``last_seen`` where exact, ``due`` and
        ``rfm_sampled_at`` (and the first label snapshot's whole-second time) as seconds after
        ``int(last_seen)``.

        >>> UserState(events=2, partition=1, due=120).to_dict()
        {'n': 2, 'p': 1, 'd': 120}
        >>> UserState(last_seen=90.5, due=120).to_dict()
        {'l': 90.5, 'd': 30}
        >>> UserState(last_seen=1e9 + 0.5, first_seen=1e9, counts={"view": 2},
        ...           affinity={"shoes": 3.0, "bags": 0.5}).to_dict()
        {'f': -500, 'l': 1000000000.5, 'c': {'2': 2}, 'a': {'shoes': 3.0, 'bags': 0.5}}
        """
        out = {k: v for (k, d), v in zip(_KEY_DEFAULTS, _VALUES(self), strict=True) if v != d}
        if self.seen:
            out["i"] = base64.b64encode(self.seen).decode()
        if self.counts:
            out["c"] = {_TYPE_CODE.get(t, t): n for t, n in self.counts.items()}
        last = self.last_seen
        if last is not None:
            whole = int(last)
            if type(due := self.due) is int:
                out["d"] = due - whole
            if type(sampled := self.rfm_sampled_at) is int:
                out["rs"] = sampled - whole
            labels = self.pending_labels
            if len(labels) > 1 and type(labels[1]) is int:  # the first snapshot's time
                out["lp"] = [labels[0], labels[1] - whole, *labels[2:]]
            for key in _RELATIVE_KEYS:
                if key not in out:
                    continue
                t = out[key]
                if t == last:
                    out[key] = 0
                elif (-_MAX_MS_OFFSET < (d := t - last) < _MAX_MS_OFFSET
                        and last + (ms := round(d * 1000)) / 1000 == t):
                    out[key] = ms
                elif type(t) is not float:  # an integer here would read as an offset
                    out[key] = float(t)
        return out

    @classmethod
    def from_bytes(cls, data: bytes | None) -> UserState:
        """Inverse of :meth:`to_bytes`; ``None`` or empty gives a fresh state.

        >>> UserState.from_bytes(b'{"n":2}').events, UserState.from_bytes(None).events
        (2, 0)
        >>> UserState.from_bytes(b'{"events":2}').events  # the earlier form
        2
        """
        return cls.from_dict(orjson.loads(data) if data else None)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> UserState:
        """Inverse of :meth:`to_dict`; ``None`` or empty gives a fresh state. The earlier
        form (long field names, ``"ext"``) loads too.

        >>> s = UserState.from_dict({"n": 2, "l": 90.5, "f": -500, "c": {"2": 2}, "p": 1})
        >>> s.events, s.first_seen, s.counts, s.partition
        (2, 90.0, {'view': 2}, 1)
        >>> s = UserState.from_dict({"events": 2, "ext": {"p": 1, "due": 120, "rs": 60}})
        >>> s.events, s.partition, s.due, s.rfm_sampled_at
        (2, 1, 120, 60)
        """
        if not data:
            return cls()
        if not _OLD_KEYS.isdisjoint(data):
            return cls._from_old_dict(data)
        # Copy the containers: the state is mutated in place, and ``data`` may be a value
        # that is still queued for the changelog.
        raw: dict[str, Any] = {f: v for k, v in data.items() if (f := _FIELD.get(k))}
        if "i" in data:
            raw["seen"] = base64.b64decode(data["i"])
        if "c" in data:
            raw["counts"] = {_TYPE_NAME.get(t, t): n for t, n in data["c"].items()}
        if "a" in data:
            raw["affinity"] = dict(data["a"])
        if "g" in data:
            raw["segments"] = dict(data["g"])
        if "lp" in data:
            raw["pending_labels"] = list(data["lp"])
        if "al" in data:
            raw["alert_state"] = list(data["al"])
        last = data.get("l")
        if last is not None:
            whole = int(last)
            if type(due := data.get("d")) is int:
                raw["due"] = whole + due
            if type(sampled := data.get("rs")) is int:
                raw["rfm_sampled_at"] = whole + sampled
            labels = raw.get("pending_labels")
            if labels is not None and len(labels) > 1 and type(labels[1]) is int:
                labels[1] += whole
            for key, name in _RELATIVE_FIELDS:
                ms = data.get(key)
                if type(ms) is int:
                    raw[name] = last + ms / 1000
        return cls(**raw)

    @classmethod
    def _from_old_dict(cls, data: dict[str, Any]) -> UserState:
        """A state in the earlier form: long field names, the bookkeeping under ``"ext"``."""
        raw: dict[str, Any] = {k: dict(v) if type(v) is dict else v
                               for k, v in data.items() if k in _PLAIN_FIELDS}
        if "seen" in raw:
            raw["seen"] = base64.b64decode(raw["seen"])
        ext = data.get("ext")
        if type(ext) is dict:
            for k, v in ext.items():
                if (name := _EXT_FIELDS.get(k)) is not None:
                    raw[name] = list(v) if type(v) is list else v
        return cls(**raw)


# Field -> its key in the serialized form (short: every user's state holds them). Never
# reuse a key for another field: changelogs keep states for as long as their users are idle.
# ("at" and "next" are left out: they are the keys of an erased marker and a partition's mark,
# which share the table.)
KEYS = {
    "first_seen": "f", "last_seen": "l", "events": "n", "counts": "c", "purchases": "b",
    "revenue": "r", "refunded": "rf", "first_purchase": "bf", "last_purchase": "bl",
    "gap_n": "gn", "gap_mean": "gm", "gap_m2": "gv", "sessions": "sn", "session": "s",
    "cart_open": "co", "cart_adds": "ca", "cart_abandons": "cx", "affinity": "a",
    "affinity_ts": "ta", "seen": "i", "seen_evicted": "ie", "offset": "o", "sentiment": "sm",
    "reviews": "rv", "churn_risk": "k", "segments": "g", "partition": "p", "due": "d",
    "rescore_stretch": "rk", "rfm_sampled_at": "rs", "pending_labels": "lp",
    "bought_mask": "lb", "alert_state": "al", "lifecycle_evaluated_at": "ya",
    "lifecycle_since": "ys",
}  # fmt: skip
# Times written as whole milliseconds after ``last_seen`` where that is exact.
RELATIVE_TIMES = ("first_seen", "first_purchase", "last_purchase", "affinity_ts",
                  "lifecycle_evaluated_at", "lifecycle_since")
# Event type -> its key in ``counts`` as serialized (a type not listed keeps its name; no
# event type is a digit). Never reuse a code.
TYPE_CODES = {
    "signup": "0", "login": "1", "view": "2", "search": "3", "add_to_cart": "4",
    "remove_from_cart": "5", "purchase": "6", "refund": "7", "review": "8", "other": "9",
}  # fmt: skip
_MAX_MS_OFFSET = 1e12  # seconds (about 31,700 years): the offset in ms stays an exact int
_TYPE_CODE, _TYPE_NAME = TYPE_CODES, {c: t for t, c in TYPE_CODES.items()}
_FIELD = {k: f for f, k in KEYS.items()}
_RELATIVE_KEYS = tuple(KEYS[f] for f in RELATIVE_TIMES)
_RELATIVE_FIELDS = tuple((KEYS[f], f) for f in RELATIVE_TIMES)

# The earlier form: field -> its key under ``"ext"`` (the other fields under their names).
EXT_KEYS = {
    "partition": "p",
    "due": "due",
    "rescore_stretch": "rk",
    "rfm_sampled_at": "rs",
    "pending_labels": "lp",
    "bought_mask": "lb",
    "alert_state": "al",
    "lifecycle_evaluated_at": "seg_lc_at",
    "lifecycle_since": "seg_lc_since",
}
_DEFAULTS: dict[str, Any] = {f.name: getattr(UserState(), f.name) for f in fields(UserState)}
_PLAIN_FIELDS = frozenset(_DEFAULTS) - frozenset(EXT_KEYS)
_EXT_FIELDS = {k: f for f, k in EXT_KEYS.items()}
_OLD_KEYS = _PLAIN_FIELDS | {"ext"}
_KEY_DEFAULTS = tuple((KEYS[f], d) for f, d in _DEFAULTS.items())
_VALUES = attrgetter(*_DEFAULTS)  # every field's value, in the order of _KEY_DEFAULTS
assert set(KEYS) == set(_DEFAULTS) and len(set(KEYS.values())) == len(KEYS)
assert _OLD_KEYS.isdisjoint(KEYS.values()) and not {"at", "next"} & set(KEYS.values())


class Placement(NamedTuple):
    """Where a stored user state belongs: its partition, due time and last event time."""

    partition: int | None
    due: float | None
    last_seen: float | None


def storable(data: Any) -> bytes:
    """``data`` as the JSON bytes a profile-table value is kept as, right-sized:
    ``orjson.dumps`` returns its growing buffer, allocated at about 8 KiB for a 1 KiB state
    (ijl/orjson#483), and the table keeps a value for long. Inverse of :func:`stored`.

    >>> storable({"next": 7}), stored(storable({"at": 1.5}))
    (b'{"next":7}', {'at': 1.5})
    """
    return bytes(memoryview(orjson.dumps(data)))


def stored(raw: Any) -> Any:
    """A profile-table value as JSON data: the stored bytes (:meth:`UserState.to_bytes`, a
    partition's mark, an erased marker) decoded; anything else as it is.

    >>> stored(b'{"events":2}'), stored({"events": 2}), stored(None)
    ({'events': 2}, {'events': 2}, None)
    """
    if isinstance(raw, (bytes, bytearray, memoryview)):
        return orjson.loads(raw)
    return raw


def placement(raw: Any) -> Placement:
    """The partition, due time and last event time of a state as stored in the profile
    table (:meth:`UserState.to_bytes`, or its dict; the earlier form too), without building
    the state.

    A value that is not JSON (a corrupt changelog record) has no placement, like any value
    that is not a state: a rebuild skips it instead of stopping the worker.

    >>> placement(b'{"l":90.5,"n":3,"p":1,"d":30}')
    Placement(partition=1, due=120.0, last_seen=90.5)
    >>> placement(b'{"last_seen":90.0,"ext":{"p":1,"due":120}}')  # the earlier form
    Placement(partition=1, due=120.0, last_seen=90.0)
    >>> placement(None), placement(b"not json") == placement(None)
    (Placement(partition=None, due=None, last_seen=None), True)
    """
    try:
        raw = stored(raw)
    except orjson.JSONDecodeError:
        return Placement(None, None, None)
    if not isinstance(raw, dict):
        return Placement(None, None, None)
    partition, due, last_seen = raw.get(KEYS["partition"]), raw.get(KEYS["due"]), raw.get(
        KEYS["last_seen"])
    if type(due) is int and last_seen is not None:
        due += int(last_seen)  # seconds after the last event (see UserState.to_dict)
    ext = raw.get("ext")
    if isinstance(ext, dict):  # the earlier form
        partition, due = ext.get(EXT_KEYS["partition"]), ext.get(EXT_KEYS["due"])
    if "last_seen" in raw:
        last_seen = raw["last_seen"]
    return Placement(None if partition is None else int(partition),
                     None if due is None else float(due),
                     None if last_seen is None else float(last_seen))


def decayed_affinity(state: UserState, at: float, config: ProfileConfig) -> dict[str, float]:
    """Category affinities decayed to event time ``at`` (not stored; the state is unchanged).

    >>> cfg = ProfileConfig(half_life_days=1.0)
    >>> s = UserState(affinity={"shoes": 4.0}, affinity_ts=0.0)
    >>> decayed_affinity(s, 86_400.0, cfg)
    {'shoes': 2.0}
    """
    if at <= state.affinity_ts:
        return dict(state.affinity)
    factor = 0.5 ** ((at - state.affinity_ts) / (config.half_life_days * DAY))
    return {cat: w * factor for cat, w in state.affinity.items()}


def _update_affinity(state: UserState, event: Event, config: ProfileConfig) -> None:
    weight = AFFINITY_WEIGHTS.get(event.type)
    if not weight or not event.category:
        return
    if event.type == "review" and event.rating is not None:
        weight *= (event.rating - 3) / 2.0  # 1 star pushes away, 5 stars pulls in
    if event.ts > state.affinity_ts:
        state.affinity = decayed_affinity(state, event.ts, config)
        state.affinity_ts = event.ts
    else:  # a late event adds what is left of it by now
        weight *= 0.5 ** ((state.affinity_ts - event.ts) / (config.half_life_days * DAY))
    aff = state.affinity
    aff[event.category] = max(0.0, aff.get(event.category, 0.0) + weight)
    if len(aff) > config.max_categories:
        for cat in sorted(aff, key=aff.__getitem__)[: len(aff) - config.max_categories]:
            del aff[cat]
    for cat in [c for c, w in aff.items() if w < 1e-3]:
        del aff[cat]
    state.affinity = {c: round(w, 4) for c, w in aff.items()}


def _update_purchase(state: UserState, event: Event) -> None:
    state.purchases += 1
    state.revenue = round(state.revenue + event.amount, 2)
    state.cart_open = 0
    if state.first_purchase is None or event.ts < state.first_purchase:
        state.first_purchase = event.ts
    if state.last_purchase is None or event.ts > state.last_purchase:
        if state.last_purchase is not None:
            gap = (event.ts - state.last_purchase) / DAY
            state.gap_n += 1
            delta = gap - state.gap_mean
            mean = state.gap_mean + delta / state.gap_n
            state.gap_m2 = round(state.gap_m2 + delta * (gap - mean), 4)
            state.gap_mean = round(mean, 4)
        state.last_purchase = event.ts


def _update_session(state: UserState, event: Event, config: ProfileConfig) -> None:
    if event.session_id:
        sid = zlib.crc32(event.session_id.encode()) or 1
        new = sid != state.session
        state.session = sid
    else:
        gap = config.session_gap_minutes * 60.0
        new = state.last_seen is None or event.ts - state.last_seen > gap
        state.session = 0
    if new:
        state.sessions += 1
        if state.cart_open:
            state.cart_abandons += 1
            state.cart_open = 0


def apply_event(
    state: UserState, event: Event, config: ProfileConfig, offset: int | None = None
) -> bool:
    """Apply one valid event to ``state`` in place; False (and no change) for a duplicate.

    A duplicate is an ``event_id`` applied for the user within ``config.dedup_hours`` of the
    user's event-time clock (see online_models/dedupe.py), or a source ``offset`` at or below
    the last applied one (a re-delivery after a crash: users are keyed to one partition).
    Late events (older than the user's last event) update counts and money but never move
    ``last_seen`` or the session backwards.

    >>> from online_models.contract import Event
    >>> cfg, s = ProfileConfig(), UserState()
    >>> apply_event(s, Event("e1", "u1", "purchase", 1e9, category="shoes", price=20.0), cfg)
    True
    >>> apply_event(s, Event("e1", "u1", "purchase", 1e9, category="shoes", price=20.0), cfg)
    False
    >>> apply_event(s, Event("e0", "u1", "view", 1e9 - 60), cfg)  # late: counted, clock kept
    True
    >>> s.events, s.purchases, s.revenue, s.last_seen == 1e9
    (2, 1, 20.0, True)
    """
    if offset is not None:
        if offset <= state.offset:
            return False
        state.offset = offset
    key = id_key(event.event_id)
    clock = minute(event.ts if state.last_seen is None else max(state.last_seen, event.ts))
    window = config.dedup_minutes
    if state.seen and key in state.seen and is_duplicate(state.seen, key, clock,
                                                         window_minutes=window):
        return False
    state.seen, evicted = remember(state.seen, key, clock, window_minutes=window,
                                   cap=config.dedup_max_ids)
    state.seen_evicted += evicted

    state.events += 1
    state.counts[event.type] = state.counts.get(event.type, 0) + 1
    if state.first_seen is None or event.ts < state.first_seen:
        state.first_seen = event.ts
    in_order = state.last_seen is None or event.ts >= state.last_seen
    if in_order:
        _update_session(state, event, config)
        state.last_seen = event.ts

    kind = event.type
    if kind == "purchase":
        _update_purchase(state, event)
    elif kind == "refund":
        state.refunded = round(state.refunded + event.amount, 2)
        state.revenue = round(state.revenue - event.amount, 2)
    elif kind == "add_to_cart":
        state.cart_adds += 1
        state.cart_open += 1
    elif kind == "remove_from_cart":
        state.cart_open = max(0, state.cart_open - 1)
    elif kind == "review":
        state.reviews += 1
    _update_affinity(state, event, config)
    return True
