"""The partition clock against the wall clock: capped ticks, bounded tick work, future events."""

from __future__ import annotations

from typing import Any
from unittest.mock import AsyncMock, patch

import orjson
import pytest

from agents.track_user_profiles import track_user_profiles
from online_models.profile import DAY, UserState
from online_models.training import ChurnLabel
from streams.runtime.tables import profiles_for_user
from streams.runtime.worker_state import WorkerState
from streams.settings import settings
from streams.topics import TICK_HEADER, tick_value

pytestmark = pytest.mark.agent

NOW = 1_800_000_000.0  # the wall clock of these tests (2027-01-15)


def purchase(user_id: str, ts: float, event_id: str = "e1") -> bytes:
    return orjson.dumps({"event_id": event_id, "user_id": user_id, "type": "purchase",
                         "ts": ts, "price": 10.0, "category": "shoes"})


async def put_tick(agent: Any, at: float | None, *, everyone: bool) -> None:
    await agent.put(tick_value(at, everyone), key=None, partition=0,
                    headers={TICK_HEADER: b"1"})


async def test_tick__fifty_years_ahead_is_capped_and_turns_nobody_churned(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, outputs: dict[str, AsyncMock],
    worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    users = [f"u{i}" for i in range(20)]
    async with track_user_profiles.test_context() as agent:
        for user in users:
            await agent.put(purchase(user, NOW - DAY), key=user.encode(), partition=0)
        before = worker.stats["ticks"]
        await put_tick(agent, NOW + 50 * 365 * DAY, everyone=False)
        await put_tick(agent, NOW + 50 * 365 * DAY, everyone=True)
        await put_tick(agent, None, everyone=False)  # the previous tick is done once this is in
    assert worker[0].watermark == NOW + settings.max_future_skew_s
    # Nobody was due a day ahead; the 'all' tick re-assessed each user once (not ~1,000 times).
    assert worker.stats["ticks"] - before == len(users)
    lifecycles = {UserState.from_bytes(profiles_for_user[u]).segments["lifecycle"] for u in users}
    assert lifecycles == {"new"}
    labels = [ex for call in sink_put.call_args_list for ex in call.kwargs.get("outbox", ())
              if isinstance(ex, ChurnLabel)]
    assert labels == [], "no churn label from a forged future"
    outputs["churn_alerts"].assert_not_called()
    dead_letters_send.assert_not_called()


async def test_tick__many_users_reach_the_sink_in_bounded_chunks_acked_once(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    users = [f"u{i}" for i in range(30)]
    with patch("streams.runtime.effects.MAX_ROWS", 10):
        async with track_user_profiles.test_context() as agent:
            for user in users:
                await agent.put(purchase(user, NOW - 40 * DAY), key=user.encode(), partition=0)
            sink_put.reset_mock()
            await put_tick(agent, NOW, everyone=True)
            await put_tick(agent, None, everyone=False)
    calls = sink_put.call_args_list[:-1]  # the last one is the second (empty) tick
    sizes = [len(c.args[0]) + len(c.args[2] or {}) for c in calls]
    assert len(calls) >= 3 and max(sizes) <= 10 + 6, sizes  # one user's step adds at most 6
    assert {u for c in calls for u in c.args[2] or {}} == set(users)  # every new state
    acks = [c.args[1] is not None for c in calls]
    assert acks == [False] * (len(calls) - 1) + [True]  # the tick is acked after all its rows
    moved = {UserState.from_bytes(profiles_for_user[u]).segments["lifecycle"] for u in users}
    assert moved == {"active"}  # 40 days after a first purchase (new_days = 30)


async def test_track_user_profiles__future_event_is_applied_but_holds_the_watermark_at_now(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, worker: WorkerState
) -> None:
    worker.now = lambda: NOW
    async with track_user_profiles.test_context() as agent:
        await agent.put(purchase("early", NOW - 60), key=b"early", partition=0)
        assert worker[0].watermark == NOW - 60
        await agent.put(purchase("ahead", NOW + 3600), key=b"ahead", partition=0)
        await put_tick(agent, None, everyone=False)
    state = UserState.from_bytes(profiles_for_user["ahead"])
    assert (state.events, state.last_seen) == (1, NOW + 3600)  # applied as stamped
    assert worker[0].watermark == NOW  # ... but the partition's clock stops at now
    dead_letters_send.assert_not_called()
