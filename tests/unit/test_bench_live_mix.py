"""The SYNTHETIC live mix of the throughput bench: ordered, mixed, valid, batched per user."""

from __future__ import annotations

import time

import orjson
import pytest

from bench.live_mix import collector_batches, history, live_mix, type_mix
from online_models.contract import Rejection, parse_event

pytestmark = pytest.mark.unit


def test_live_mix__event_time_ordered_valid_and_mostly_views() -> None:
    end = time.time()
    events = live_mix(users=5_000, events=20_000, end=end)
    assert len(events) == 20_000
    stamps = [e["ts"] for e in events]
    assert stamps == sorted(stamps) and end - 3600 <= stamps[0] and stamps[-1] <= end + 3600
    assert len({e["event_id"] for e in events}) == len(events)
    assert all(e["user_id"].startswith("syn-live-u-") for e in events)
    mix = type_mix(events)
    assert mix["view"] > 0.6 and 0.05 < mix["search"] < 0.2
    assert mix["view"] > mix["add_to_cart"] > mix["purchase"] > mix["refund"] > 0
    assert 0 < mix["review"] < mix["add_to_cart"]
    sessions: dict[str, int] = {}
    for e in events:
        sessions[e["session_id"]] = sessions.get(e["session_id"], 0) + 1
    assert 5 <= len(events) / len(sessions) <= 20  # a few to tens of events
    assert not any(isinstance(parse_event(orjson.dumps(e), now=end), Rejection)
                   for e in events[:2000])


def test_live_mix__history_spans_days_and_batches_keep_each_users_order() -> None:
    past = history(users=2_000, events=5_000, days=90)
    assert past[-1]["ts"] - past[0]["ts"] > 80 * 86_400
    batches = collector_batches(past, mean=20)
    assert sum(len(b) for b in batches) == len(past)
    assert all(len({e["user_id"] for e in b}) == 1 and len(b) <= 30 for b in batches)
    flushed = [b[-1]["ts"] for b in batches]
    assert flushed == sorted(flushed)
    per_user: dict[str, list[float]] = {}
    for batch in batches:
        per_user.setdefault(batch[0]["user_id"], []).extend(e["ts"] for e in batch)
    assert all(ts == sorted(ts) for ts in per_user.values())
