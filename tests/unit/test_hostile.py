"""The fault suite's generator: every class present, verdicts from the contract itself."""

from __future__ import annotations

import itertools

import pytest

from bench.hostile import MUTATIONS, generate, parse_event
from online_models.contract import Rejection
from streams.data.datasets import synthetic_events

pytestmark = pytest.mark.unit


def test_generate__every_class_and_accepted_ones_never_hit_a_valid_user() -> None:
    valid = list(itertools.islice(synthetic_events(users=20, days=10, seed=3), 2000))
    users = {e["user_id"] for e in valid}
    hostile = generate(valid, 1200, rng_seed=5)
    assert len(hostile) == 1200
    classes = {h.cls for h in hostile}
    assert set(MUTATIONS) | {"forged_tick", "oversized_message", "hyp_event_like",
                             "hyp_any_json", "hyp_bytes"} <= classes
    for h in hostile:
        if h.headers:  # ticks
            continue
        parsed = parse_event(h.value, max_future_skew_s=86_400.0)
        if h.expected == "accepted":
            assert not isinstance(parsed, Rejection) and parsed.user_id not in users
        else:
            assert isinstance(parsed, Rejection) and parsed.reason == h.expected
