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
    state = UserState.from_dict(profiles_for_user["u1"])
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
    state = UserState.from_dict(profiles_for_user["u1"])
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
    state = UserState.from_dict(profiles_for_user["u1"])
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
