"""Unit tests for `online_models.labels`: delayed churn labels from pending snapshots."""

from __future__ import annotations

import pytest

from online_models.alerts import AlertPolicy, decide_alert
from online_models.churn import FEATURE_NAMES, churn_features
from online_models.contract import Event
from online_models.labels import (
    next_label_due,
    pending,
    resolve_labels,
    take_snapshot,
)
from online_models.profile import DAY, ProfileConfig, UserState, apply_event

pytestmark = pytest.mark.unit
T0 = 1.7e9
H = 30.0


def _snap(s: UserState, day: float, *, max_pending: int = 3, min_spacing_days: float = 7.0
          ) -> bool:
    return take_snapshot(s, T0 + day * DAY, {"x": 1.0}, horizon_days=H, max_pending=max_pending,
                         min_spacing_days=min_spacing_days)


def test_resolve_labels__purchase_before_horizon_is_zero() -> None:
    s = UserState()
    assert _snap(s, 0)
    out = resolve_labels(s, purchase_at=T0 + 29 * DAY, watermark=T0 + 29 * DAY, horizon_days=H)
    assert out == [({"x": 1.0}, 0, T0)]
    assert pending(s) == [] and s.pending_labels == []


def test_resolve_labels__purchase_exactly_at_horizon_is_zero() -> None:
    s = UserState()
    _snap(s, 0)
    out = resolve_labels(s, purchase_at=T0 + H * DAY, watermark=T0 + H * DAY, horizon_days=H)
    assert [label for _, label, _ in out] == [0]


def test_resolve_labels__purchase_after_horizon_is_one() -> None:
    s = UserState()
    _snap(s, 0)
    out = resolve_labels(s, purchase_at=T0 + 31 * DAY, watermark=T0 + 20 * DAY, horizon_days=H)
    assert [label for _, label, _ in out] == [1]


def test_resolve_labels__watermark_passing_horizon_is_one() -> None:
    s = UserState()
    _snap(s, 0)
    _snap(s, 10)
    assert resolve_labels(s, purchase_at=None, watermark=T0 + H * DAY, horizon_days=H) == []
    out = resolve_labels(s, purchase_at=None, watermark=T0 + 31 * DAY, horizon_days=H)
    assert [(label, t) for _, label, t in out] == [(1, T0)]
    assert [t for t, _ in pending(s)] == [T0 + 10 * DAY]


def test_resolve_labels__late_purchase_before_snapshot_ignored() -> None:
    s = UserState()
    _snap(s, 10)
    out = resolve_labels(s, purchase_at=T0 + 5 * DAY, watermark=T0 + 11 * DAY, horizon_days=H)
    assert out == [] and len(pending(s)) == 1


def test_resolve_labels__mixed_snapshots_one_purchase() -> None:
    s = UserState()
    for day in (0, 10, 20):
        _snap(s, day)
    out = resolve_labels(s, purchase_at=T0 + 35 * DAY, watermark=T0 + 35 * DAY, horizon_days=H)
    assert [(label, t) for _, label, t in out] == [(1, T0), (0, T0 + 10 * DAY),
                                                   (0, T0 + 20 * DAY)]


def test_take_snapshot__bounded_and_spaced() -> None:
    s = UserState()
    assert _snap(s, 0, max_pending=2, min_spacing_days=7)
    assert not _snap(s, 3, max_pending=2, min_spacing_days=7)  # too close
    assert _snap(s, 7, max_pending=2, min_spacing_days=7)
    assert not _snap(s, 20, max_pending=2, min_spacing_days=7)  # full
    assert len(pending(s)) == 2
    resolve_labels(s, purchase_at=None, watermark=T0 + 31 * DAY, horizon_days=H)
    assert _snap(s, 31, max_pending=2, min_spacing_days=7)


def test_take_snapshot__misuse_raises() -> None:
    s = UserState()
    with pytest.raises(ValueError):
        take_snapshot(s, T0, {}, horizon_days=0)
    with pytest.raises(ValueError):
        take_snapshot(s, T0, {}, horizon_days=H, max_pending=0)
    with pytest.raises(ValueError):
        resolve_labels(s, purchase_at=None, watermark=float("nan"), horizon_days=H)


def test_take_snapshot__whole_state_under_1kib_with_three_snapshots() -> None:
    s, cfg = UserState(), ProfileConfig()
    cats = ["shoes", "bags", "hats", "coats", "socks", "belts"]
    for i in range(60):
        kind = ["view", "add_to_cart", "purchase", "search", "review"][i % 5]
        apply_event(s, Event(f"event-{i:06d}-abcdef", "u-42", kind, T0 + i * 2 * DAY,
                             category=cats[i % 6], price=37.5, session_id=f"s-{i}",
                             rating=4 if kind == "review" else None), cfg)
    s.sentiment, s.churn_risk = 0.62, 0.41
    s.segments = {"lifecycle": "active", "value": "loyal", "interest": "3"}
    for k in range(3):
        at = T0 + (120 + 8 * k) * DAY
        assert take_snapshot(s, at, churn_features(s, at), horizon_days=H)
    decide_alert(s, user_id="u-42", risk=0.9, p_alive=0.4, reasons=[], categories=[],
                 model_version=1, at=T0 + 140 * DAY, policy=AlertPolicy())
    size = len(s.to_bytes())
    assert size < 1024, size
    back = UserState.from_bytes(s.to_bytes())
    assert [sorted(f) for _, f in pending(back)] == [sorted(FEATURE_NAMES)] * 3


def test_pending__feature_values_rounded_and_roundtrip() -> None:
    s = UserState()
    take_snapshot(s, T0, {"a": 1.23456789, "b": 3.0}, horizon_days=H)
    back = UserState.from_bytes(s.to_bytes())
    assert pending(back) == [(T0, {"a": 1.23, "b": 3.0})]


def test_pending__other_schema_lists_dropped() -> None:
    s = UserState()
    take_snapshot(s, T0, churn_features(s, T0), horizon_days=H)
    s.pending_labels[0] = -1  # written by a build with other feature names
    assert pending(s) == []
    assert resolve_labels(s, purchase_at=None, watermark=T0, horizon_days=H) == []
    assert s.pending_labels == [] and "lp" not in s.to_dict()


def test_next_label_due__oldest_snapshot() -> None:
    s = UserState()
    assert next_label_due(s, horizon_days=H) is None
    _snap(s, 0)
    _snap(s, 10)
    assert next_label_due(s, horizon_days=H) == T0 + H * DAY


def test_take_and_resolve__keep_the_stored_list_as_a_full_re_encoding_would() -> None:
    import random

    from online_models.labels import _store

    rng, s = random.Random(3), UserState()
    for step in range(400):
        at = 1e9 + step * 3 * DAY + rng.random()
        if rng.random() < 0.5:
            features = {k: rng.choice([rng.random() * 100, 3.0, 1e-5 * rng.random()])
                        for k in FEATURE_NAMES}
            take_snapshot(s, at, features, horizon_days=30, min_spacing_days=rng.choice([0, 7]))
        else:
            resolve_labels(s, purchase_at=at if rng.random() < 0.3 else None, watermark=at,
                           horizon_days=30, at_horizon=True)
        again = UserState()
        _store(again, pending(s))
        assert s.pending_labels == again.pending_labels
