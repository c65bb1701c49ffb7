"""Internal messages under test_context(): snapshots are data (a pickle never runs), and with
a signing key forged snapshots, training batches and operator ticks are refused."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import pickle
from collections.abc import Iterator
from pathlib import Path
from unittest.mock import AsyncMock

import orjson
import pytest

import streams.runtime.trust as trust
from agents.track_user_profiles import track_user_profiles
from online_models.bundle import ModelBundle
from online_models.churn import churn_features
from online_models.profile import UserState
from online_models.signing import sign, verify
from online_models.training import ChurnLabel, ReviewTerms, RfmSample, TrainingExample
from streams.runtime.model_follower import models
from streams.runtime.tables import profiles_for_user
from streams.runtime.worker_state import WorkerState
from streams.topics import TICK_HEADER, TICK_SIGNATURE_HEADER, tick_headers, tick_value

pytestmark = pytest.mark.agent

KEY = b"test-signing-key-0123456789abcdef"


class _CreatesFile:
    """Unpickling this runs ``touch`` on a marker path: code hidden in data."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, (f"touch {self.path}",))


@pytest.fixture()
def signing_key(monkeypatch: pytest.MonkeyPatch) -> bytes:
    monkeypatch.setattr(trust, "settings", dataclasses.replace(trust.settings, signing_key=KEY))
    return KEY


@pytest.fixture()
def own_partitions() -> None:
    """This test's own partition marks and watermarks: the autouse ``worker`` fixture
    (tests/agent/conftest.py) gives every test a fresh worker state already."""


@pytest.fixture()
def fresh_models() -> Iterator[None]:
    current, raw = models.current, models.raw
    trust.refused.clear()
    yield
    models.current, models.raw = current, raw


def _trained_snapshot() -> bytes:
    bundle = ModelBundle()
    for i in range(60):
        bundle.learn(ChurnLabel({"recency_days": float(i)}, int(i >= 30)))
    return bundle.snapshot()


def _event(user: str, n: int) -> bytes:
    return orjson.dumps({"event_id": f"e{n}", "user_id": user, "type": "purchase",
                         "ts": 1_700_000_000 + n, "price": 5.0})


@pytest.mark.parametrize("keyed", [False, True], ids=["no key", "key"])
async def test_models_topic__pickle_is_never_run_and_scoring_goes_on(
    keyed: bool, request: pytest.FixtureRequest, tmp_path: Path, fresh_models: None,
    own_partitions: None, sink_put: AsyncMock, dead_letters_send: AsyncMock,
) -> None:
    key = request.getfixturevalue("signing_key") if keyed else None
    snapshot = _trained_snapshot()
    models.load(sign(key, snapshot, purpose="models") if key else snapshot)
    assert models.current.version == 1
    marker = tmp_path / "created-by-unpickling"
    exploit = pickle.dumps(_CreatesFile(marker))
    unloadable = models.unloadable
    models.load(exploit)  # as it would arrive from the topic
    if key:  # even signed with the right key (an insider), a pickle is not data
        models.load(sign(key, exploit, purpose="models"))
    assert not marker.exists()
    assert models.current.version == 1 and models.raw == snapshot
    assert trust.refused["models"] == (1 if keyed else 0)
    assert models.unloadable == unloadable + 1
    async with track_user_profiles.test_context() as agent:
        await agent.put(_event("u-scored", 1), key=b"u-scored")
    state = UserState.from_bytes(profiles_for_user["u-scored"])
    bundle = models.current
    expected = bundle.churn_risk(churn_features(state, state.last_seen,
                                                params=bundle.priors.params))
    assert state.churn_risk == pytest.approx(expected, abs=1e-9)  # the loaded model's
    assert state.churn_risk != ModelBundle().churn_risk(  # not the blank bundle's
        churn_features(state, state.last_seen))
    dead_letters_send.assert_not_called()
    pickle.loads(exploit)  # the exploit is live: unpickled, it creates the file
    assert marker.exists()


async def test_models_topic__forged_snapshot_refused_with_a_key(
    signing_key: bytes, fresh_models: None,
) -> None:
    snapshot = _trained_snapshot()
    models.load(snapshot)  # unsigned
    models.load(sign(b"someone-else's-key-0123456789", snapshot, purpose="models"))
    models.load(sign(signing_key, snapshot, purpose="training"))  # signed for another topic
    assert models.current.version == 0 and trust.refused["models"] == 3
    models.load(sign(signing_key, snapshot, purpose="models"))
    assert models.current.version == 1


async def test_tick__forged_ticks_are_dead_lettered_with_a_key(
    signing_key: bytes, own_partitions: None, sink_put: AsyncMock,
    dead_letters_send: AsyncMock, worker: WorkerState,
) -> None:
    before = worker[0].watermark
    value = tick_value(2_000_000_000.0, everyone=False)
    forged = [{TICK_HEADER: b"1"},
              {TICK_HEADER: b"1", TICK_SIGNATURE_HEADER: b"0" * 64},
              tick_headers(tick_value(2_000_000_001.0, everyone=False), signing_key)]
    async with track_user_profiles.test_context() as agent:
        for headers in forged:
            await agent.put(value, key=None, partition=0, headers=headers)
    assert worker[0].watermark == before
    letters = [c.kwargs["value"] for c in dead_letters_send.call_args_list]
    assert [d.reason for d in letters] == ["bad_signature"] * 3
    assert [d.detail for d in letters] == ["tick unsigned"] + ["tick bad_signature"] * 2
    assert trust.refused["tick"] >= 3
    signed = tick_value(1000.0, everyone=False)  # early: no user of the shared table is due
    async with track_user_profiles.test_context() as agent:
        await agent.put(signed, key=None, partition=0, headers=tick_headers(signed, signing_key))
    assert worker[0].watermark == 1000.0
    assert dead_letters_send.await_count == 3


async def test_wall_clock_ticks__signed_with_a_key(
    signing_key: bytes, monkeypatch: pytest.MonkeyPatch, user_events_send: AsyncMock,
) -> None:
    import streams.runtime.clock as clock

    monkeypatch.setattr(clock, "settings", trust.settings)
    await clock.send_wall_clock_ticks(now=1_900_000_000.0)
    call = user_events_send.call_args_list[0]
    assert call.kwargs["headers"] == tick_headers(call.kwargs["value"], signing_key)
    assert trust.tick_refusal(call.kwargs["value"], call.kwargs["headers"]) is None


async def test_training_topic__forged_batches_refused_signed_ones_learned(
    signing_key: bytes, outputs: dict[str, AsyncMock],
) -> None:
    from agents.train_models import examples_of, stats
    from streams.runtime.outputs import send_training

    examples: list[TrainingExample] = [RfmSample(3.0, 2.0, 40.0), ReviewTerms({7: 1}, 5)]
    delivered = asyncio.get_running_loop().create_future()
    delivered.set_result(None)
    outputs["training"].return_value = delivered  # what Faust's send returns: a future
    await send_training(examples)
    [sent] = [c.kwargs["value"] for c in outputs["training"].call_args_list]
    assert isinstance(verify(signing_key, sent, purpose="training"), bytes)
    assert examples_of(sent) == examples
    bad = stats["bad_batches"]
    poison = orjson.dumps({"examples": [ChurnLabel({"recency_days": 1.0}, 1).to_dict()] * 500})
    assert examples_of(poison) == []  # unsigned
    assert examples_of(sign(b"not-the-trainer's-key-000000", poison, purpose="training")) == []
    assert examples_of(sign(signing_key, poison, purpose="models")) == []
    assert stats["bad_batches"] == bad + 3 and trust.refused["training"] >= 3


async def test_trainer__publishes_signed_data_and_refuses_oversized_snapshots(
    signing_key: bytes, outputs: dict[str, AsyncMock], sink_put: AsyncMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import agents.train_models as trainer
    from streams.runtime.learning import InThread

    bundle = ModelBundle()
    await trainer.publish_snapshot(InThread(bundle))
    [sent] = [c.kwargs["value"] for c in outputs["models"].call_args_list]
    payload = verify(signing_key, sent, purpose="models")
    assert isinstance(payload, bytes) and ModelBundle.from_snapshot(payload).version == 1
    monkeypatch.setattr(trainer, "MAX_SNAPSHOT_BYTES", 1000)
    await trainer.publish_snapshot(InThread(bundle))
    assert outputs["models"].await_count == 1 and bundle.version == 1
    assert trainer.stats["oversized_snapshots"] >= 1
