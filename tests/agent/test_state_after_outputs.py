"""Outputs before state: a failed send is retried, never dead-lettered; a crash loses nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from unittest.mock import AsyncMock

import orjson
import pytest

import agents.track_user_profiles as module
from agents.track_user_profiles import track_user_profiles
from online_models.messages import SegmentChange
from online_models.profile import UserState
from streams.runtime.effects import Source
from streams.runtime.tables import profiles_for_user
from streams.runtime.worker_state import WorkerState

pytestmark = pytest.mark.agent


async def processed(done: Callable[[], bool], timeout: float = 10.0) -> None:
    """Wait until the agent has finished what ``done`` checks (it may be retrying a send)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not done():
        assert asyncio.get_running_loop().time() < deadline, "the agent did not finish"
        await asyncio.sleep(0.05)


def purchase(event_id: str = "e1", user_id: str = "u1") -> bytes:
    return orjson.dumps({"event_id": event_id, "user_id": user_id, "type": "purchase",
                         "ts": "2026-01-01T00:00:00Z", "price": 10.0})


async def test_track_user_profiles__failed_send_is_retried_then_sent_once_and_kept(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, outputs: dict[str, AsyncMock],
    worker: WorkerState
) -> None:
    accepted: list[SegmentChange] = []

    async def broker_fails_once(*, key: bytes, value: bytes) -> None:
        if outputs["segment_changes"].await_count == 1:
            raise ConnectionError("broker unreachable")
        accepted.append(SegmentChange.from_json(value))

    outputs["segment_changes"].side_effect = broker_fails_once
    async with track_user_profiles.test_context() as agent:
        await agent.put(purchase(), key=b"u1", partition=0)
        # put() returns once the agent took the message; the retry waits 0.5 s before sending.
        await processed(lambda: sink_put.await_count == 1)
        await agent.put(purchase(), key=b"u1", partition=0)  # a duplicate: sends nothing
        await processed(lambda: sink_put.await_count == 2)
    assert accepted, "the purchase places the user in a segment"
    ids = [c.change_id for c in accepted]
    assert len(ids) == len(set(ids)), "each change accepted exactly once"
    assert outputs["segment_changes"].await_count == len(accepted) + 1  # one failed attempt
    dead_letters_send.assert_not_called()  # a broker error is not bad input
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert state.events == 1
    assert all(state.segments[c.dimension] == c.to_segment for c in accepted)
    assert "u1" in worker[0].schedule
    transitions = [r["change_id"] for call in sink_put.call_args_list
                   for _, r in call.args[0] if "from_segment" in r]
    assert sorted(transitions) == sorted(ids)


class Crash(BaseException):
    """The worker stops in the middle of a send (as a kill -9 would)."""


async def test_ingest__redelivered_message_sends_what_a_crash_left_unsent(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, outputs: dict[str, AsyncMock],
    worker: WorkerState
) -> None:
    src = Source("user-events", 0, 7, b"u1")
    outputs["segment_changes"].side_effect = Crash
    with pytest.raises(Crash):
        await module.ingest(src, purchase(), None)
    # Nothing of the step was kept: no state, no schedule entry, nothing for the sink.
    assert profiles_for_user.get("u1") is None
    assert "u1" not in worker[0].schedule
    sink_put.assert_not_called()

    outputs["segment_changes"].side_effect = None
    outputs["segment_changes"].reset_mock()
    await module.ingest(src, purchase(), None)  # the same message, redelivered
    sent = [SegmentChange.from_json(c.kwargs["value"])
            for c in outputs["segment_changes"].call_args_list]
    assert sent, "the redelivered message is not a duplicate: its changes are sent"
    state = UserState.from_bytes(profiles_for_user["u1"])
    assert state.events == 1
    assert all(state.segments[c.dimension] == c.to_segment for c in sent)
    assert sink_put.await_count == 1 and sink_put.call_args.args[2]["u1"][0] == 0
    dead_letters_send.assert_not_called()


async def test_ingest__a_step_that_fails_leaves_the_state_as_it_was(
    sink_put: AsyncMock, dead_letters_send: AsyncMock, outputs: dict[str, AsyncMock],
    worker: WorkerState
) -> None:
    await module.ingest(Source("user-events", 0, 1, b"u1"), purchase(), None)
    before = profiles_for_user["u1"]
    outputs["segment_changes"].side_effect = Crash
    with pytest.raises(Crash):  # a second purchase a day later, 40 days on: changes to send
        await module.ingest(Source("user-events", 0, 2, b"u1"), orjson.dumps(
            {"event_id": "e2", "user_id": "u1", "type": "purchase",
             "ts": "2026-02-10T00:00:00Z", "price": 5.0}), None)
    assert outputs["segment_changes"].await_count >= 1
    assert profiles_for_user["u1"] == before
