"""Unit tests for `online_models.segments`: change messages, ids, idempotence, time."""

from __future__ import annotations

import random
from typing import Any

import pytest

from online_models.contract import Event, iso
from online_models.interest import InterestModel
from online_models.lifecycle import LifecyclePolicy
from online_models.messages import SegmentChange
from online_models.profile import DAY, ProfileConfig, UserState, apply_event
from online_models.rfm import RFMScorer
from online_models.segments import change_id, evaluate_segments

pytestmark = pytest.mark.unit
T0 = 1.7e9
KEYS = {"change_id", "user_id", "dimension", "from", "to", "at", "reason"}


def _models() -> dict[str, Any]:
    rng = random.Random(0)
    rfm, interest = RFMScorer(), InterestModel(k=2, init_size=20)
    for i in range(200):
        rfm.learn_one(rng.uniform(0, 120), rng.randint(1, 8), rng.uniform(10, 800))
        cats = ("shoes", "bags") if i % 2 else ("phones", "laptops")
        interest.learn_one({c: rng.uniform(1, 3) for c in cats})
    return {"lifecycle_policy": LifecyclePolicy(), "rfm": rfm, "interest": interest}


def _buyer() -> UserState:
    state, cfg = UserState(), ProfileConfig()
    apply_event(state, Event("e1", "u1", "signup", T0), cfg)
    apply_event(state, Event("e2", "u1", "purchase", T0 + 60, category="shoes", price=50.0), cfg)
    return state


def test_segments__first_evaluation_sets_every_dimension() -> None:
    state = _buyer()
    changes = evaluate_segments("u1", state, T0 + DAY, **_models())
    assert [c.dimension for c in changes] == ["lifecycle", "value", "interest"]
    assert all(set(c.to_dict()) == KEYS and c.to_dict()["from"] is None for c in changes)
    assert state.segments["lifecycle"] == "new"
    assert state.segments["interest"] == changes[2].to_segment
    assert "shoes" in str(changes[2].to_segment) and changes[2].reason.startswith("cluster_")
    assert changes[0].at == iso(T0 + DAY) and changes[0].at.endswith("Z")
    assert [SegmentChange.from_json(c.to_json()) for c in changes] == changes


def test_segments__same_time_twice_is_idempotent() -> None:
    state, models = _buyer(), _models()
    assert evaluate_segments("u1", state, T0 + DAY, **models)
    assert evaluate_segments("u1", state, T0 + DAY, **models) == []


def test_segments__duplicate_event_then_reevaluation_changes_nothing() -> None:
    state, models = _buyer(), _models()
    evaluate_segments("u1", state, T0 + DAY, **models)
    dup = Event("e2", "u1", "purchase", T0 + 60, category="shoes", price=50.0)
    assert not apply_event(state, dup, ProfileConfig())
    assert evaluate_segments("u1", state, T0 + DAY, **models) == []


def test_segments__silence_moves_lifecycle_and_value() -> None:
    state, models = _buyer(), _models()
    evaluate_segments("u1", state, T0 + DAY, **models)
    changes = {c.dimension: c for c in evaluate_segments("u1", state, T0 + 100 * DAY, **models)}
    assert (changes["lifecycle"].from_segment, changes["lifecycle"].to_segment) == (
        "new", "churned")
    assert changes["value"].to_segment in ("lost", "hibernating")
    assert "interest" not in changes


def test_segments__earlier_time_changes_nothing() -> None:
    state, models = _buyer(), _models()
    evaluate_segments("u1", state, T0 + 100 * DAY, **models)
    before = dict(state.segments)
    assert evaluate_segments("u1", state, T0 + DAY, **models) == []
    assert state.segments == before


def test_segments__prospect_has_only_lifecycle() -> None:
    state = UserState()
    apply_event(state, Event("e1", "u9", "signup", T0), ProfileConfig())
    changes = evaluate_segments("u9", state, T0, **_models())
    assert [(c.dimension, c.to_segment, c.reason) for c in changes] == [
        ("lifecycle", "prospect", "no_purchase_yet")
    ]


def test_segments__untrained_models_give_lifecycle_only() -> None:
    policy, rfm, interest = LifecyclePolicy(), RFMScorer(), InterestModel()
    changes = evaluate_segments(
        "u1", _buyer(), T0 + DAY, lifecycle_policy=policy, rfm=rfm, interest=interest
    )
    assert [c.dimension for c in changes] == ["lifecycle"]


def test_segments__lost_dimension_is_removed() -> None:
    state, models = _buyer(), _models()
    evaluate_segments("u1", state, T0 + DAY, **models)
    state.affinity = {}
    (change,) = evaluate_segments("u1", state, T0 + 2 * DAY, **models)
    assert change.dimension == "interest" and change.to_segment is None
    assert change.to_dict()["to"] is None
    assert "interest" not in state.segments


def test_segments__change_id_is_deterministic_and_distinct() -> None:
    at = iso(T0)
    a = change_id("u1", "lifecycle", "new", "active", at)
    assert a == change_id("u1", "lifecycle", "new", "active", at)
    assert (
        len(
            {
                a,
                change_id("u2", "lifecycle", "new", "active", at),
                change_id("u1", "lifecycle", None, "active", at),
                change_id("u1", "lifecycle", "new", "active", iso(T0 + 1)),
            }
        )
        == 4
    )
    s1, s2, models = _buyer(), _buyer(), _models()
    ids1 = [c.change_id for c in evaluate_segments("u1", s1, T0 + DAY, **models)]
    ids2 = [c.change_id for c in evaluate_segments("u1", s2, T0 + DAY, **models)]
    assert ids1 == ids2
