"""Unit tests for `streams.cli.replay.batches`: collector-style grouping of a replay."""

from __future__ import annotations

import pytest

from online_models.contract import Batch, Event, parse_message
from streams.cli.replay import batches, encode
from streams.data.datasets import synthetic_events

pytestmark = pytest.mark.unit


def test_batches__every_event_once_in_user_order_within_size_and_contract() -> None:
    events = list(synthetic_events(users=40, days=5, start="2026-01-01"))
    grouped = list(batches(events, 10))
    flat = [e for item in grouped for e in (item if isinstance(item, list) else [item])]
    assert sorted(map(str, flat)) == sorted(map(str, events)), "every event exactly once"
    for user in {e["user_id"] for e in events}:
        assert [e for e in flat if e["user_id"] == user] == \
            [e for e in events if e["user_id"] == user], "a user's events keep their order"
    lists = [item for item in grouped if isinstance(item, list)]
    assert lists and max(map(len, lists)) == 10 and len(grouped) < len(events) / 2
    for item in lists:
        assert len({e["user_id"] for e in item}) == 1
        key, value = encode(item)
        parsed = parse_message(value)
        assert isinstance(parsed, Batch) and not parsed.rejected
        assert key == str(item[0]["user_id"]).encode()


def test_batches__size_one_and_unreadable_items_pass_through() -> None:
    events = [{"user_id": "a", "ts": 1e9}, b"{broken", {"user_id": "a", "ts": "soon"}]
    assert list(batches(events, 1)) == events
    assert list(batches(events, 5)) == [b"{broken", {"user_id": "a", "ts": "soon"},
                                        {"user_id": "a", "ts": 1e9}]
    with pytest.raises(ValueError):
        list(batches(events, 0))


def test_batches__one_event_is_sent_as_an_event() -> None:
    [item] = batches([{"event_id": "e", "user_id": "a", "type": "view", "ts": 1e9}], 5)
    assert isinstance(parse_message(encode(item)[1]), Event)
