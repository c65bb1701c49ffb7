"""Hot user states in the ingest agent: equal to the table after every step, gone after a failed
step, an eviction or an assignment, read by ticks; the same states, rows and outputs as without."""

from __future__ import annotations

import zlib
from typing import Any
from unittest.mock import AsyncMock, patch

import orjson
import pytest

import agents.track_user_profiles as module
from agents.track_user_profiles import track_user_profiles
from bench.live_mix import collector_batches, live_mix
from online_models.profile import DAY, UserState, stored
from streams.runtime.effects import Source
from streams.runtime.tables import hot_profiles, profiles_for_user
from streams.runtime.worker_state import WorkerState
from streams.topics import TICK_HEADER, tick_value

pytestmark = pytest.mark.agent

NOW = 1_800_000_000.0  # the wall clock of these tests


class Crash(BaseException):
    """The worker stops in the middle of a send."""


def event(user: str, event_id: str, ts: float, kind: str = "view") -> bytes:
    return orjson.dumps({"event_id": event_id, "user_id": user, "type": kind, "ts": ts,
                         "price": 10.0, "category": "shoes"})


def held(user: str) -> UserState:
    """The user's hot state, held again afterwards."""
    state = hot_profiles.take(user, None)
    hot_profiles.keep(user, state)
    return state


async def test_ingest__the_next_message_of_a_user_starts_from_its_hot_state(
    sink_put: AsyncMock, worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    hits, misses = hot_profiles.hits, hot_profiles.misses
    for offset in range(1, 4):
        await module.ingest(Source("user-events", 0, offset, b"u1"),
                            event("u1", f"e{offset}", NOW - 600 + offset), None)
        assert held("u1") == UserState.from_bytes(profiles_for_user["u1"])
    assert (hot_profiles.hits - hits, hot_profiles.misses - misses) == (5, 1)  # 3 by held()
    assert UserState.from_bytes(profiles_for_user["u1"]).events == 3
    states = [call.args[2]["u1"][1] for call in sink_put.call_args_list]
    # each queued state kept as it was
    assert [UserState.from_bytes(s).events for s in states] == [1, 2, 3]


async def test_ingest__a_held_user_is_not_read_from_the_table(
    sink_put: AsyncMock, worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    await module.ingest(Source("user-events", 0, 1, b"u1"), event("u1", "e1", NOW - 60), None)
    table, reads = profiles_for_user.data, []
    get = table.get

    def counted(key: Any, default: Any = None) -> Any:
        reads.append(key)
        return get(key, default)

    with patch.object(table, "get", counted):
        await module.ingest(Source("user-events", 0, 2, b"u1"), event("u1", "e2", NOW - 30),
                            None)
    assert "u1" not in reads  # started from the held state
    assert UserState.from_bytes(profiles_for_user["u1"]).events == 2


async def test_ingest__a_failed_step_leaves_no_hot_state_and_the_next_starts_from_the_table(
    sink_put: AsyncMock, outputs: dict[str, AsyncMock], worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    await module.ingest(Source("user-events", 0, 1, b"u1"),
                        event("u1", "e1", NOW - 40 * DAY, "purchase"), None)
    before = profiles_for_user["u1"]
    outputs["segment_changes"].side_effect = Crash
    with pytest.raises(Crash):  # a purchase 40 days later: segment changes to send
        await module.ingest(Source("user-events", 0, 2, b"u1"),
                            event("u1", "e2", NOW - 60, "purchase"), None)
    assert "u1" not in hot_profiles and profiles_for_user["u1"] == before
    outputs["segment_changes"].side_effect = None
    await module.ingest(Source("user-events", 0, 3, b"u1"), event("u1", "e3", NOW - 30), None)
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert (state.events, state.purchases) == (2, 1)  # e1 and e3: nothing of the failed e2


async def test_ingest__an_evicted_user_is_decoded_from_the_table_again(
    sink_put: AsyncMock, worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    users = ["u1", "u2", "u3"]
    with patch.object(hot_profiles, "capacity", 2):
        for offset, user in enumerate(users * 2, start=1):
            await module.ingest(Source("user-events", 0, offset, user.encode()),
                                event(user, f"e{offset}", NOW - 600 + offset), None)
        assert len(hot_profiles) == 2 and hot_profiles.evicted >= 4
    for user in users:
        assert UserState.from_bytes(profiles_for_user[user]).events == 2


async def test_track_user_profiles__a_new_assignment_drops_hot_states_for_the_recovered_table(
    sink_put: AsyncMock, worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    async with track_user_profiles.test_context() as agent:
        await agent.put(event("u1", "e1", NOW - 600), key=b"u1", partition=0)
        await agent.put(event("u1", "e2", NOW - 500), key=b"u1", partition=0)
    assert "u1" in hot_profiles
    # The recovery of the new assignment brings the user's state as another worker kept it.
    recovered = UserState.from_bytes(profiles_for_user["u1"])
    recovered.events += 40
    recovered.offset = -1  # a new test context numbers its messages from the start again
    profiles_for_user.data["u1"] = recovered.to_bytes()
    worker.assigned()  # what the partitions-assigned signal does first
    async with track_user_profiles.test_context() as agent:
        await agent.put(event("u1", "e3", NOW - 400), key=b"u1", partition=0)
    assert UserState.from_bytes(profiles_for_user["u1"]).events == 43
    assert not worker.stale


async def test_tick__everyone_is_reassessed_from_hot_states_equal_to_the_table(
    sink_put: AsyncMock, outputs: dict[str, AsyncMock], worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    users = [f"u{i}" for i in range(5)]
    async with track_user_profiles.test_context() as agent:
        for user in users:
            await agent.put(event(user, "e1", NOW - DAY, "purchase"), key=user.encode(),
                            partition=0)
        before = {u: UserState.from_bytes(profiles_for_user[u]).churn_risk for u in users}
        ticks = worker.stats["ticks"]
        await agent.put(tick_value(NOW + 200 * DAY, True), key=None, partition=0,
                        headers={TICK_HEADER: b"1"})
        await agent.put(tick_value(None, False), key=None, partition=0,
                        headers={TICK_HEADER: b"1"})
    assert worker.stats["ticks"] - ticks == len(users)
    for user in users:
        state = UserState.from_bytes(profiles_for_user[user])
        assert state.churn_risk != before[user]  # re-assessed, and kept
        assert held(user) == state


@pytest.mark.parametrize("batch_mean", [0, 6])
async def test_handle__the_same_states_rows_and_outputs_with_hot_states_on_and_off(
    sink_put: AsyncMock, outputs: dict[str, AsyncMock], batch_mean: int
) -> None:
    events = live_mix(300, 1500)  # SYNTHETIC sessions of the last hour
    groups = collector_batches(events, mean=batch_mean) if batch_mean else [[e] for e in events]
    messages = [(str(g[0]["user_id"]).encode(), orjson.dumps(g if batch_mean else g[0]))
                for g in groups]

    async def run(capacity: int) -> tuple[Any, ...]:
        profiles_for_user.data.clear()
        hot_profiles.clear()
        sink_put.reset_mock()
        for mock in outputs.values():
            mock.reset_mock()
        fresh = WorkerState(max_future_skew_s=module.settings.max_future_skew_s)
        fresh.ready(fresh.assignment)
        offsets = [0] * 4
        with patch.object(module, "worker", fresh), patch.object(hot_profiles, "capacity",
                                                                 capacity):
            for key, value in messages:
                partition = zlib.crc32(key) % 4
                await module.handle(Source("user-events", partition, offsets[partition], key),
                                    value, None)
                offsets[partition] += 1
        table = {k: orjson.dumps(stored(v), option=orjson.OPT_SORT_KEYS)
                 for k, v in profiles_for_user.data.items()}
        sent = [(name, repr(call.kwargs)) for name, mock in outputs.items()
                for call in mock.call_args_list]
        puts = [repr(call.args) for call in sink_put.call_args_list]  # rows, ack, states
        return table, sent, puts, fresh.stats

    hits = hot_profiles.hits
    off = await run(0)
    on = await run(1000)
    assert hot_profiles.hits > hits  # the second run did start from held states
    assert on[3] == off[3] and on[3]["valid"] == len(events)
    assert on[0] == off[0] and on[1] == off[1] and on[2] == off[2]
