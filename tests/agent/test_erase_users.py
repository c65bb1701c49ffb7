"""The erasure agent under test_context(): state, schedule, rows, changelog, marker, receipt."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from unittest.mock import AsyncMock, patch

import orjson
import pytest

import agents.erase_users as erase_module
import agents.track_user_profiles as ingest_module
from agents.erase_users import erase_users
from agents.track_user_profiles import track_user_profiles
from online_models.profile import UserState, stored
from streams.privacy.erasure import erased_key, request_value
from streams.privacy.pseudonyms import pseudonym
from streams.runtime.tables import hot_profiles, profiles_for_user

pytestmark = pytest.mark.agent

KEY = b"agent-test-key"
TS = 1767225600.0


@pytest.fixture()
def erasure_io() -> Iterator[dict[str, AsyncMock]]:
    """The database delete, changelog write, sink flush and receipt of an erasure."""
    rows = {"user_profiles": 1, "segment_transitions": 2}
    with patch("streams.runtime.erasure._delete_rows", return_value=rows) as delete, \
            patch("streams.runtime.erasure.write_changelog", new=AsyncMock()) as changelog, \
            patch("streams.runtime.erasure.sink.flush", new=AsyncMock()) as flush, \
            patch("streams.runtime.channels.erasure_receipts_topic.send",
                  new=AsyncMock()) as receipt:
        ingest_module.worker.ready(ingest_module.worker.assignment)  # the table is complete
        yield {"delete": delete, "changelog": changelog, "flush": flush,  # type: ignore[dict-item]
               "receipt": receipt}


def event(user: str, event_id: str, ts: float) -> bytes:
    return orjson.dumps({"event_id": event_id, "user_id": user, "type": "purchase", "ts": ts,
                         "price": 5.0})


async def test_erase_users__pseudonymous_user_erased_and_old_events_never_return(
        sink_put: AsyncMock, erasure_io: dict[str, AsyncMock]) -> None:
    settings = dataclasses.replace(ingest_module.settings, pseudonym_key=KEY)
    alias = pseudonym(KEY, "u-raw")
    with patch.object(ingest_module, "settings", settings), \
            patch.object(erase_module, "settings", settings):
        async with track_user_profiles.test_context() as ingest:
            await ingest.put(event("u-raw", "e1", TS), key=b"u-raw", partition=0)
        assert profiles_for_user.get("u-raw") is None and profiles_for_user[alias]
        async with erase_users.test_context() as agent:
            await agent.put(request_value("u-raw", at=TS + 10, request_id="r1"),
                            key=b"u-raw", partition=0)
        async with track_user_profiles.test_context() as ingest:
            for i in range(3):  # the same history again, and an older event
                await ingest.put(event("u-raw", f"e{i}", TS - i), key=b"u-raw", partition=0)
    assert profiles_for_user.get(alias) is None
    assert stored(profiles_for_user.data[erased_key(alias)]) == {"at": TS + 10}
    erasure_io["flush"].assert_awaited()
    assert erasure_io["delete"].call_args.args == (alias,)
    written = erasure_io["changelog"].call_args.args[0]
    assert written == {alias: None, erased_key(alias): orjson.dumps({"at": TS + 10})}
    receipt = erasure_io["receipt"].call_args.kwargs
    assert receipt["key"] == alias.encode() and receipt["value"]["request_id"] == "r1"
    assert receipt["value"]["removed"]["state"] is True
    assert "u-raw" not in orjson.dumps(receipt["value"]).decode()


async def test_erase_users__a_user_who_comes_back_later_starts_a_new_profile(
        sink_put: AsyncMock, erasure_io: dict[str, AsyncMock]) -> None:
    async with track_user_profiles.test_context() as ingest:
        await ingest.put(event("u-back", "e1", TS), key=b"u-back", partition=0)
    async with erase_users.test_context() as agent:
        await agent.put(request_value("u-back", at=TS + 10), key=b"u-back", partition=0)
    async with track_user_profiles.test_context() as ingest:
        await ingest.put(event("u-back", "e2", TS + 100), key=b"u-back", partition=0)
    assert UserState.from_bytes(profiles_for_user["u-back"]).events == 1


async def test_erase_users__a_hot_user_is_erased_and_comes_back_from_nothing(
        sink_put: AsyncMock, erasure_io: dict[str, AsyncMock]) -> None:
    async with track_user_profiles.test_context() as ingest:
        await ingest.put(event("u-hot", "e1", TS), key=b"u-hot", partition=0)
        await ingest.put(event("u-hot", "e2", TS + 5), key=b"u-hot", partition=0)
    assert "u-hot" in hot_profiles  # its decoded state is held
    async with erase_users.test_context() as agent:
        await agent.put(request_value("u-hot", at=TS + 10), key=b"u-hot", partition=0)
    assert "u-hot" not in hot_profiles and profiles_for_user.get("u-hot") is None
    async with track_user_profiles.test_context() as ingest:
        await ingest.put(event("u-hot", "e3", TS + 6), key=b"u-hot", partition=0)  # erased
        await ingest.put(event("u-hot", "e4", TS + 100), key=b"u-hot", partition=0)
    state = UserState.from_bytes(profiles_for_user["u-hot"])
    assert (state.events, state.purchases) == (1, 1)


async def test_erase_users__expiry_dropped_when_the_user_came_back(
        sink_put: AsyncMock, erasure_io: dict[str, AsyncMock]) -> None:
    async with track_user_profiles.test_context() as ingest:
        await ingest.put(event("u-ttl", "e1", TS), key=b"u-ttl", partition=0)
        await ingest.put(event("u-ttl", "e2", TS + 50), key=b"u-ttl", partition=0)
    async with erase_users.test_context() as agent:  # sent when e1 was the last event
        await agent.put(request_value("u-ttl", at=TS, reason="ttl", internal=True),
                        key=b"u-ttl", partition=0)
    assert UserState.from_bytes(profiles_for_user["u-ttl"]).events == 2
    erasure_io["delete"].assert_not_called()
    erasure_io["receipt"].assert_not_called()


async def test_erase_users__malformed_request_is_refused_and_logged(
        erasure_io: dict[str, AsyncMock], caplog: pytest.LogCaptureFixture) -> None:
    async with erase_users.test_context() as agent:
        await agent.put(b'{"user_id": ""}', key=b"x", partition=0)
    assert "refused: missing_user_id" in caplog.text
    erasure_io["delete"].assert_not_called()
