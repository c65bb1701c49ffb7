"""The ingest agent under test_context(): validation, dead letters, profiles, duplicates."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from unittest.mock import AsyncMock

import orjson
import pytest

from agents.track_user_profiles import track_user_profiles
from online_models.profile import UserState
from streams.runtime.tables import profiles_for_user
from streams.runtime.worker_state import WorkerState

pytestmark = pytest.mark.agent


def event(**fields: object) -> bytes:
    base = {"event_id": "e1", "user_id": "u1", "type": "view", "ts": "2026-01-01T00:00:00Z"}
    base.update(fields)
    return orjson.dumps(base)


async def test_track_user_profiles__purchase_updates_profile_and_row(
    sink_put: AsyncMock, dead_letters_send: AsyncMock
) -> None:
    async with track_user_profiles.test_context() as agent:
        await agent.put(event(type="purchase", price=10.0, quantity=3, category="shoes"),
                        key=b"u1")
        await agent.put(event(event_id="e2", type="refund", price=10.0, quantity=1), key=b"u1")
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert (state.events, state.purchases, state.revenue) == (2, 1, 20.0)
    rows = [r for call in sink_put.call_args_list for _, r in call.args[0]]
    assert rows[-1]["user_id"] == "u1" and rows[-1]["revenue"] == 20.0
    assert rows[-1]["events"] == 2
    dead_letters_send.assert_not_called()


async def test_track_user_profiles__bad_input_goes_to_dead_letters(
    sink_put: AsyncMock, dead_letters_send: AsyncMock
) -> None:
    bad = [b"not json", event(user_id=""), event(ts="soon"), event(price=-1),
           event(rating=6), event(event_id="x" * 300), event(quantity="two")]
    async with track_user_profiles.test_context() as agent:
        for value in bad:
            await agent.put(value, key=b"u1")
    reasons = [c.kwargs["value"].reason for c in dead_letters_send.call_args_list]
    assert reasons == ["not_json", "empty_field:user_id", "bad_timestamp", "negative:price",
                       "rating_out_of_range", "oversized:event_id", "bad_type:quantity"]
    first = dead_letters_send.call_args_list[0].kwargs["value"]
    assert first.original() == b"not json" and first.offset >= 0
    # No rows; each ack waits its turn in the sink (acks stay in partition order).
    assert [tuple(c.args[0]) for c in sink_put.call_args_list] == [()] * len(bad)


async def test_track_user_profiles__duplicate_event_id_counted_once(
    sink_put: AsyncMock, dead_letters_send: AsyncMock
) -> None:
    async with track_user_profiles.test_context() as agent:
        for _ in range(3):
            await agent.put(event(user_id="u1", type="purchase", price=5.0), key=b"u1")
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert (state.events, state.purchases, state.revenue) == (1, 1, 5.0)


async def test_track_user_profiles__wrong_key_is_republished_by_user(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, user_events_send: AsyncMock
) -> None:
    async with track_user_profiles.test_context() as agent:
        await agent.put(event(user_id="u1"), key=b"someone-else")
    user_events_send.assert_awaited_once()
    assert user_events_send.call_args.kwargs["key"] == b"u1"
    assert profiles_for_user.get("u1") is None


async def test_track_user_profiles__skipped_offsets_are_read_from_the_broker_first(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, worker: WorkerState
) -> None:
    from unittest.mock import patch

    from streams.runtime import intake
    from streams.runtime.channels import user_events_topic

    def record(offset: int, **fields: object) -> SimpleNamespace:
        return SimpleNamespace(topic=user_events_topic.get_topic_name(), partition=0,
                               offset=offset, key=b"u1", headers=[],
                               value=event(user_id="u1", **fields))

    calls: list[tuple[object, ...]] = []

    async def read_chunks(*args: object, **options: object
                          ) -> AsyncIterator[list[SimpleNamespace]]:
        calls.append(args)  # the gap, in two chunks (retries live in read_chunks)
        yield [record(first + 1, event_id="b", type="view")]
        yield [record(first + 2, event_id="c", type="purchase", price=2.0)]

    async with track_user_profiles.test_context() as agent:
        with patch.object(intake, "read_chunks", new=read_chunks):
            await agent.put(event(user_id="u1", event_id="a", type="purchase", price=1.0),
                            key=b"u1", partition=0)
            first = agent.sent_offset - 1
            agent.sent_offset += 2  # the consumer skips two messages
            await agent.put(event(user_id="u1", event_id="d", type="view"), key=b"u1",
                            partition=0)
            await agent.put(event(user_id="u1", event_id="e", type="view"), key=b"u1",
                            partition=0)
    assert len(calls) == 1 and calls[0][2:] == (0, first + 1, first + 3)
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert (state.events, state.purchases, state.revenue) == (5, 2, 3.0)
    assert worker[0].mark == first + 5


async def test_send_wall_clock_ticks__one_tick_per_partition_moves_idle_watermarks(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, user_events_send: AsyncMock,
    worker: WorkerState
) -> None:
    from streams.runtime.clock import send_wall_clock_ticks
    from streams.settings import settings
    from streams.topics import TICK_HEADER

    sent = await send_wall_clock_ticks(now=1_900_000_000.0)
    assert sent == settings.partitions == user_events_send.await_count
    calls = user_events_send.call_args_list
    assert sorted(c.kwargs["partition"] for c in calls) == list(range(settings.partitions))
    assert all(c.kwargs["headers"] == {TICK_HEADER: b"1"} for c in calls)
    tick = calls[0].kwargs["value"]
    assert orjson.loads(tick) == {"at": 1_900_000_000.0, "all": False}
    # The owning worker (same wall clock) moves that partition's watermark to the tick's time.
    worker.now = lambda: 1_900_000_000.0
    async with track_user_profiles.test_context() as agent:
        await agent.put(tick, key=None, partition=0, headers={TICK_HEADER: b"1"})
    assert worker[0].watermark == 1_900_000_000.0
    dead_letters_send.assert_not_called()


# --- collector batches --------------------------------------------------------------------

def session(user: str = "u1") -> list[dict[str, object]]:
    """One user's session: views, a cart, a purchase, a duplicate and a late view."""
    ts = "2026-01-01T00:0{}:00Z"
    return [{"event_id": f"{user}-{i}", "user_id": user, "type": kind, "ts": ts.format(minute),
             "category": "shoes", "price": 20.0 if kind == "purchase" else None}
            for i, (kind, minute) in enumerate([("view", 1), ("view", 2), ("add_to_cart", 3),
                                                ("purchase", 5), ("view", 0)])] + [
        {"event_id": f"{user}-1", "user_id": user, "type": "view", "ts": ts.format(2)}]


async def test_track_user_profiles__a_bad_event_of_a_batch_is_dead_lettered_alone(
    sink_put: AsyncMock, dead_letters_send: AsyncMock
) -> None:
    events = session()
    bad = {"event_id": "u1-bad", "user_id": "u1", "type": "purchase", "price": -5,
           "ts": "2026-01-01T00:04:00Z"}
    events.insert(2, bad)
    async with track_user_profiles.test_context() as agent:
        await agent.put(orjson.dumps({"batch": events, "sentAt": "2026-01-01T00:06:00Z"}),
                        key=b"u1")
    [call] = dead_letters_send.call_args_list
    letter = call.kwargs["value"]
    assert (letter.reason, letter.index) == ("negative:price", 2)
    assert letter.detail.startswith("event 2 of 7:")
    assert orjson.loads(letter.original()) == bad, "the offending event, not the whole batch"
    assert call.kwargs["key"] == b"u1" and letter.offset >= 0
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert (state.events, state.purchases, state.revenue, state.cart_adds) == (5, 1, 20.0, 1)
    # One row and one ack for the whole message.
    [put] = sink_put.call_args_list
    rows = [r for _, r in put.args[0] if "events" in r]
    assert len(rows) == 1 and rows[0]["events"] == 5 and put.args[1] is not None


async def test_track_user_profiles__a_batch_ends_where_its_events_sent_singly_end(
    sink_put: AsyncMock, dead_letters_send: AsyncMock
) -> None:
    async with track_user_profiles.test_context() as agent:
        for e in session("single"):
            await agent.put(orjson.dumps(e), key=b"single")
        await agent.put(orjson.dumps(session("batched")), key=b"batched")
    single = UserState.from_bytes(profiles_for_user["single"])
    batched = UserState.from_bytes(profiles_for_user["batched"])
    for key in ("events", "counts", "purchases", "revenue", "first_seen", "last_seen",
                "sessions", "cart_adds", "cart_open", "affinity", "churn_risk", "segments"):
        assert getattr(single, key) == getattr(batched, key), key
    rows = {}
    for call in sink_put.call_args_list:
        for _spec, row in call.args[0]:
            if "events" in row:
                rows[row["user_id"]] = row
    own = {"user_id", "source_offset"}  # which user, and which message was its last
    assert {k: v for k, v in rows["single"].items() if k not in own} == \
        {k: v for k, v in rows["batched"].items() if k not in own}
    dead_letters_send.assert_not_called()


async def test_track_user_profiles__other_users_events_of_a_batch_go_to_their_partitions(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, user_events_send: AsyncMock
) -> None:
    mine, theirs = session("u1")[:2], session("u2")[:3]
    third = session("u3")[:1]
    mixed = [mine[0], theirs[0], theirs[1], third[0], mine[1], theirs[2]]
    snowplow = {"schema": "iglu:com.snowplowanalytics.snowplow/payload_data/jsonschema/1-0-4",
                "data": mixed}
    async with track_user_profiles.test_context() as agent:
        await agent.put(orjson.dumps(snowplow), key=b"u1")
    assert UserState.from_bytes(profiles_for_user["u1"]).events == 2
    sent = {c.kwargs["key"]: orjson.loads(c.kwargs["value"])
            for c in user_events_send.call_args_list}
    assert sent == {b"u2": theirs, b"u3": third[0]}, "grouped per user, in batch order"
    assert profiles_for_user.get("u2") is None  # applied when it arrives on its partition
    dead_letters_send.assert_not_called()


async def test_track_user_profiles__a_batch_over_the_limit_is_refused_whole(
    sink_put: AsyncMock, dead_letters_send: AsyncMock
) -> None:
    import dataclasses
    from unittest.mock import patch

    import agents.track_user_profiles as module

    strict = dataclasses.replace(module.settings, max_batch_events=3)
    with patch.object(module, "settings", strict):
        async with track_user_profiles.test_context() as agent:
            await agent.put(orjson.dumps(session()), key=b"u1")
    [call] = dead_letters_send.call_args_list
    assert call.kwargs["value"].reason == "batch_too_large"
    assert call.kwargs["value"].index is None
    assert profiles_for_user.get("u1") is None
