"""Delayed churn labels: feature snapshots kept in the user state until their label is known.

Churn = no purchase within ``horizon_days`` after the snapshot time ``t``. A snapshot resolves to
0 when a purchase happens in ``[t, t + H]`` and to 1 when a purchase after ``t + H`` arrives or
the watermark passes ``t + H`` first. Call :func:`resolve_labels` before :func:`take_snapshot`
for the same event, so a purchase never labels the snapshot taken after it.

Storage: ``state.pending_labels`` (JSON through ``UserState.to_bytes``), one flat list
``[schema, t0, values0, dt1, values1, ...]``: ``schema`` is a tag of
:data:`online_models.churn.FEATURE_NAMES`, ``t0`` whole epoch seconds, ``dt`` seconds since the
previous snapshot, ``values`` a list aligned with ``FEATURE_NAMES`` (3 significant digits) or,
for any other key set, a ``{name: value}`` dict. List snapshots written under another schema
are dropped when read (they cannot be decoded safely). About 80 bytes per snapshot.
"""

from __future__ import annotations

import math
import zlib
from typing import Any

from online_models.churn import FEATURE_NAMES
from online_models.profile import DAY, UserState

SCHEMA_TAG = zlib.crc32(",".join(FEATURE_NAMES).encode()) & 0xFFFF

Example = tuple[dict[str, float], int, float]
_NAMES = frozenset(FEATURE_NAMES)


def compact(value: float) -> float | int:
    """Round to 3 significant digits; whole numbers become ints (shorter JSON).

    >>> compact(12.34567), compact(3.0), compact(0.000123456)
    (12.3, 3, 0.000123)
    """
    if not math.isfinite(value):
        return 0
    rounded = float(f"{value:.3g}")
    return int(rounded) if rounded.is_integer() and abs(rounded) < 1e15 else rounded


def _check(horizon_days: float) -> None:
    if not math.isfinite(horizon_days) or horizon_days <= 0:
        raise ValueError("horizon_days must be finite and > 0")


def pending(state: UserState) -> list[tuple[float, dict[str, float]]]:
    """Decoded pending snapshots ``(t, features)``, oldest first (the state is unchanged).

    >>> s = UserState()
    >>> take_snapshot(s, 0.0, {"recency_days": 1.5}, horizon_days=30)
    True
    >>> pending(s)
    [(0.0, {'recency_days': 1.5})]
    """
    raw = state.pending_labels
    if not isinstance(raw, list) or len(raw) < 3 or len(raw) % 2 == 0:
        return []
    same_schema = raw[0] == SCHEMA_TAG
    out: list[tuple[float, dict[str, float]]] = []
    t = 0.0
    for i in range(1, len(raw), 2):
        t += float(raw[i])
        values: Any = raw[i + 1]
        if isinstance(values, dict):
            out.append((t, {k: float(v) for k, v in values.items()}))
        elif same_schema and len(values) == len(FEATURE_NAMES):
            out.append((t, {k: float(v) for k, v in zip(FEATURE_NAMES, values, strict=True)}))
    return out


def _packed(state: UserState) -> list[Any] | None:
    """The stored snapshots (a tag, then time offset and features per snapshot), or None."""
    raw = state.pending_labels
    if not isinstance(raw, list) or len(raw) < 3 or len(raw) % 2 == 0:
        return None
    return raw


def _times(state: UserState) -> list[float]:
    """Snapshot times only (cheap: features are not decoded)."""
    raw = _packed(state)
    if raw is None:
        return []
    times, t = [], 0.0
    for i in range(1, len(raw), 2):
        t += float(raw[i])
        times.append(t)
    return times


def _encode(features: dict[str, float]) -> Any:
    if len(features) == len(FEATURE_NAMES) and _NAMES.issuperset(features):
        return [compact(features[k]) for k in FEATURE_NAMES]
    return {k: compact(v) for k, v in features.items()}


def _store(state: UserState, snaps: list[tuple[float, dict[str, float]]]) -> None:
    if not snaps:
        state.pending_labels = []
        return
    raw: list[Any] = [SCHEMA_TAG]
    prev = 0
    for t, features in snaps:
        raw.append(int(t) - prev)
        prev = int(t)
        raw.append(_encode(features))
    state.pending_labels = raw


def _current(state: UserState) -> list[Any] | None:
    """The stored list when every snapshot in it decodes as it is (its own schema, whole
    seconds): it can then be kept and extended without decoding and encoding again."""
    raw = state.pending_labels
    if isinstance(raw, list) and not raw:
        return raw
    if (not isinstance(raw, list) or len(raw) < 3 or len(raw) % 2 == 0
            or raw[0] != SCHEMA_TAG):
        return None
    for i in range(1, len(raw), 2):
        values = raw[i + 1]
        if type(raw[i]) is not int or not (
                isinstance(values, dict) or len(values) == len(FEATURE_NAMES)):
            return None
    return raw


def _keep_only(state: UserState, raw: list[Any], keep: list[int]) -> None:
    """Keep the snapshots ``keep`` (indices, in order) of the valid stored list ``raw``."""
    out: list[Any] = [SCHEMA_TAG]
    t = prev = 0
    for j in range(len(raw) // 2):
        t += raw[2 * j + 1]
        if j in keep:
            out += [t - prev, raw[2 * j + 2]]
            prev = t
    state.pending_labels = out if len(out) > 1 else []


def take_snapshot(
    state: UserState,
    at: float,
    features: dict[str, float],
    *,
    horizon_days: float,
    max_pending: int = 3,
    min_spacing_days: float = 7.0,
) -> bool:
    """Store a compact snapshot of ``features`` taken at ``at``; True when stored.

    Refused (False) when ``max_pending`` snapshots already wait (the oldest resolve first, so
    labels keep flowing) or the newest one is less than ``min_spacing_days`` old.

    >>> s = UserState()
    >>> take_snapshot(s, 0.0, {"x": 1.0}, horizon_days=30, min_spacing_days=7)
    True
    >>> take_snapshot(s, 86_400.0, {"x": 2.0}, horizon_days=30, min_spacing_days=7)
    False
    >>> len(pending(s))
    1
    """
    _check(horizon_days)
    if max_pending < 1 or not math.isfinite(min_spacing_days) or min_spacing_days < 0:
        raise ValueError("max_pending must be >= 1 and min_spacing_days >= 0")
    if not math.isfinite(at):
        raise ValueError("at must be a finite epoch time")
    times = _times(state)
    if len(times) >= max_pending:
        return False
    if times and at - times[-1] < min_spacing_days * DAY:
        return False
    raw = _current(state)
    if raw is not None:  # append to the stored snapshots as they are
        last = int(times[-1]) if times else 0
        state.pending_labels = [*(raw or [SCHEMA_TAG]), int(at) - last, _encode(features)]
        return True
    snaps = pending(state)
    snaps.append((float(int(at)), dict(features)))
    _store(state, snaps)
    return True


def _resolve_at_horizon(state: UserState, purchase_at: float | None, watermark: float,
                        horizon: float) -> list[Example]:
    times = _times(state)
    mask = int(state.bought_mask)
    if purchase_at is not None:
        for i, t in enumerate(times):
            if t <= purchase_at <= t + horizon:
                mask |= 1 << i
    due = [i for i, t in enumerate(times) if watermark > t + horizon]
    if not due:
        state.bought_mask = mask
        return []
    raw = _current(state)
    snaps = pending(state)
    resolved = [(snaps[i][1], 0 if mask >> i & 1 else 1, snaps[i][0]) for i in due]
    kept = [i for i in range(len(snaps)) if i not in due]
    if raw is not None:
        _keep_only(state, raw, kept)
    else:
        _store(state, [snaps[i] for i in kept])
    state.bought_mask = sum(1 << j for j, i in enumerate(kept) if mask >> i & 1)
    return resolved


def resolve_labels(
    state: UserState,
    *,
    purchase_at: float | None,
    watermark: float,
    horizon_days: float,
    at_horizon: bool = False,
) -> list[Example]:
    """Resolve (and remove) the pending snapshots whose label is now known.

    Returns ``(features, label, snapshot_time)`` tuples, oldest first: label 0 when
    ``t <= purchase_at <= t + H``, label 1 when ``purchase_at > t + H`` or
    ``watermark > t + H``. A (late) purchase before ``t`` does not touch that snapshot.

    With ``at_horizon=True`` a purchase only marks the snapshot; every snapshot is released
    when the watermark passes ``t + H``, whatever its label. Labels 0 then reach the learner
    no sooner than labels 1, which removes the bias early-resolving negatives cause when
    many users start at once (a cohort, or a replayed history).

    >>> s = UserState()
    >>> _ = take_snapshot(s, 0.0, {"x": 1.0}, horizon_days=30)
    >>> resolve_labels(s, purchase_at=5 * 86_400.0, watermark=5 * 86_400.0, horizon_days=30,
    ...                at_horizon=True)
    []
    >>> resolve_labels(s, purchase_at=None, watermark=31 * 86_400.0, horizon_days=30,
    ...                at_horizon=True)
    [({'x': 1.0}, 0, 0.0)]

    >>> s, day = UserState(), 86_400.0
    >>> _ = take_snapshot(s, 0.0, {"x": 1.0}, horizon_days=30)
    >>> resolve_labels(s, purchase_at=5 * day, watermark=5 * day, horizon_days=30)
    [({'x': 1.0}, 0, 0.0)]
    >>> _ = take_snapshot(s, 10 * day, {"x": 2.0}, horizon_days=30)
    >>> resolve_labels(s, purchase_at=None, watermark=41 * day, horizon_days=30)
    [({'x': 2.0}, 1, 864000.0)]
    >>> pending(s)
    []
    """
    _check(horizon_days)
    if not math.isfinite(watermark) or (purchase_at is not None and not math.isfinite(purchase_at)):
        raise ValueError("watermark and purchase_at must be finite")
    horizon = horizon_days * DAY
    if at_horizon:
        return _resolve_at_horizon(state, purchase_at, watermark, horizon)
    times = _times(state)
    if times and state.pending_labels[0] == SCHEMA_TAG and not any(
        (purchase_at is not None and purchase_at >= t) or watermark > t + horizon
        for t in times
    ):
        return []  # nothing resolves: leave the encoded snapshots as they are
    snaps = pending(state)
    if not snaps:
        _store(state, snaps)  # drops undecodable leftovers
        return []
    resolved: list[Example] = []
    kept: list[tuple[float, dict[str, float]]] = []
    for t, features in snaps:
        end = t + horizon
        if purchase_at is not None and t <= purchase_at <= end:
            resolved.append((features, 0, t))
        elif (purchase_at is not None and purchase_at > end) or watermark > end:
            resolved.append((features, 1, t))
        else:
            kept.append((t, features))
    _store(state, kept)
    return resolved


def next_label_due(state: UserState, *, horizon_days: float) -> float | None:
    """Epoch time after which the oldest pending snapshot resolves to 1 (None if none wait).

    Schedule the user at this time so silent users still produce labels.

    >>> s = UserState()
    >>> _ = take_snapshot(s, 0.0, {"x": 1.0}, horizon_days=1)
    >>> next_label_due(s, horizon_days=1)
    86400.0
    """
    _check(horizon_days)
    raw = _packed(state)  # the oldest snapshot's time is the first offset (_times)
    if raw is None:
        return None
    return (0.0 + float(raw[1])) + horizon_days * DAY
