"""The trainer agent under test_context(): examples in, a snapshot out, a model version queued."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
from collections.abc import Callable, Iterator
from typing import Any
from unittest.mock import AsyncMock, patch

import orjson
import pytest

import agents.train_models as trainer
from online_models.bundle import ModelBundle
from online_models.training import ChurnLabel, Interests, RfmSample
from streams.runtime.model_follower import models
from streams.runtime.outputs import MODEL_VERSIONS
from streams.topics import snapshot_key

pytestmark = pytest.mark.agent

BATCH = 500  # messages the trainer takes at a time (agents/train_models.py)


@pytest.fixture()
def bundle() -> Iterator[ModelBundle]:
    """The bundle the trainer learns on (a fresh one, as with an empty model topic)."""
    fresh = ModelBundle()
    # No model_versions table here: the database knows no version yet.
    with patch.object(models, "trainer_copy", return_value=fresh), \
            patch.object(trainer, "recorded_model_version", return_value=0):
        yield fresh


def configure(**changes: Any) -> Any:
    """Run the trainer with ``LIFELINE_SNAPSHOT_*`` set as in ``changes``, learning in a
    thread on the ``bundle`` fixture's bundle unless ``trainer`` says otherwise."""
    changes.setdefault("trainer", "thread")
    return patch.object(trainer, "settings", dataclasses.replace(trainer.settings, **changes))


def churn(i: int) -> dict[str, Any]:
    """A churn label as a worker sends it."""
    return ChurnLabel({"recency_days": float(i % 60), "frequency": float(i % 5)},
                      int(i % 60 > 30)).to_dict()


async def put(agent: Any, value: Any) -> None:
    """Send one training message as a worker does: JSON bytes (unsigned here: no key)."""
    await agent.put(orjson.dumps(value))


async def until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        if loop.time() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def test_train_models__publishes_a_snapshot_after_snapshot_examples(
    bundle: ModelBundle, outputs: dict[str, AsyncMock], sink_put: AsyncMock,
) -> None:
    send = outputs["models"]
    with configure(snapshot_examples=2 * BATCH, snapshot_seconds=3600.0):
        async with trainer.train_models.test_context() as agent:
            for i in range(BATCH):  # one batch: fewer examples than a snapshot needs
                await put(agent, {"examples": [churn(i)]})
            await until(lambda: bundle.counts["churn"] == BATCH, "the first batch learned")
            assert send.await_count == 0 and sink_put.await_count == 0
            for i in range(BATCH, 2 * BATCH):
                await put(agent, {"examples": [churn(i)]})
            await until(lambda: send.await_count == 1, "a snapshot")
    assert bundle.counts["churn"] == 2 * BATCH
    assert send.call_args.kwargs["key"] == snapshot_key(bundle.version)
    published = ModelBundle.from_snapshot(send.call_args.kwargs["value"])
    assert published.version == 1 and published.churn.examples == 2 * BATCH
    # The version is recorded through the database sink, with its quality.
    sink_put.assert_awaited_once()
    [(upsert, row)] = sink_put.call_args.args[0]
    assert upsert is MODEL_VERSIONS
    assert (row["version"], row["examples"]) == (1, 2 * BATCH)
    assert row["details"]["counts"]["churn"] == 2 * BATCH


async def test_train_models__publishes_by_time_only_when_something_was_learned(
    bundle: ModelBundle, outputs: dict[str, AsyncMock], sink_put: AsyncMock,
) -> None:
    send = outputs["models"]
    malformed = [[1, 2], {"examples": ["x", {"k": "nonsense"}, {"k": "churn"},
                                       {**churn(1), "y": 2}, {**churn(1), "x": [1.0]}]},
                 {"no examples": True}]
    bad_batches, bad_examples = trainer.stats["bad_batches"], trainer.stats["bad_examples"]
    with configure(snapshot_examples=10**6, snapshot_seconds=0.2):
        async with trainer.train_models.test_context() as agent:
            for value in malformed:
                await put(agent, value)
            await asyncio.sleep(0.6)  # three snapshot periods with nothing learned
            assert send.await_count == 0
            assert trainer.stats["bad_batches"] == bad_batches + 2
            assert trainer.stats["bad_examples"] == bad_examples + 5
            await put(agent, {"examples": [
                churn(1), RfmSample(3.0, 2.0, 40.0).to_dict(),
                {"k": "review", "text": "love these shoes", "rating": 5},  # an older worker's
                Interests({"shoes": 1.0}).to_dict()]})
            await until(lambda: send.await_count == 1, "a snapshot after the period")
            await asyncio.sleep(0.6)
    assert send.await_count == 1, "no new examples: no new snapshot"
    published = ModelBundle.from_snapshot(send.call_args.kwargs["value"])
    assert published.counts == {"churn": 1, "review": 1, "rfm": 1, "interest": 1, "buyer": 0}
    assert sink_put.await_count == 1


async def test_train_models__numbering_continues_from_model_versions(
    bundle: ModelBundle, outputs: dict[str, AsyncMock], sink_put: AsyncMock,
) -> None:
    send = outputs["models"]
    # The model topic was lost (a fresh bundle, version 0); the database remembers version 7.
    with configure(snapshot_examples=10**6, snapshot_seconds=0.2), \
            patch.object(trainer, "recorded_model_version", return_value=7):
        async with trainer.train_models.test_context() as agent:
            await put(agent, {"examples": [churn(1)]})
            await until(lambda: send.await_count == 1, "a snapshot after the period")
    assert ModelBundle.from_snapshot(send.call_args.kwargs["value"]).version == 8
    assert send.call_args.kwargs["key"] == snapshot_key(8)
    [(_, row)] = sink_put.call_args.args[0]
    assert row["version"] == 8


async def test_train_models__a_slow_batch_does_not_hold_the_event_loop(
    bundle: ModelBundle, outputs: dict[str, AsyncMock], sink_put: AsyncMock,
) -> None:
    # A batch that takes long to learn (a BG/NBD refit takes hundreds of ms) is learned in a
    # thread: the worker's other tasks (the ingest agent, the sink) keep running meanwhile.
    import time

    learn = bundle.learn

    def slow_learn(ex: Any) -> bool:
        time.sleep(0.3)
        return learn(ex)

    ticks: list[float] = []

    async def ticker() -> None:
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.01)

    with configure(snapshot_seconds=0.05), \
            patch.object(bundle, "learn", side_effect=slow_learn):  # a batch per 0.05 s
        async with trainer.train_models.test_context() as agent:
            task = asyncio.ensure_future(ticker())
            try:
                await put(agent, {"examples": [churn(1)]})
                await until(lambda: bundle.counts["churn"] == 1, "the slow example learned")
            finally:
                task.cancel()
    gaps = [b - a for a, b in itertools.pairwise(ticks)]
    assert len(ticks) > 10 and max(gaps) < 0.2  # never blocked for the 0.3 s of learning


async def test_train_models__learns_in_a_child_process_by_default(
    bundle: ModelBundle, outputs: dict[str, AsyncMock], sink_put: AsyncMock,
) -> None:
    # LIFELINE_TRAINER=process: the bundle is learned in a child process, so the worker's
    # copy stays as it was; the published snapshot holds every example, in order, and the
    # child is gone once the agent stops.
    import multiprocessing

    assert trainer.settings.trainer == "process"
    send = outputs["models"]
    messages = [{"examples": [churn(i)]} for i in range(BATCH - 1)]
    messages.append({"examples": [{"k": "nonsense"}]})
    reference = ModelBundle()
    for message in messages[:-1]:
        reference.learn(trainer.examples_in(orjson.dumps(message))[0][0])
    bad = trainer.stats["bad_examples"]
    with configure(trainer="process", snapshot_examples=BATCH - 1, snapshot_seconds=3600.0):
        async with trainer.train_models.test_context() as agent:
            for message in messages:  # one batch
                await put(agent, message)
            await until(lambda: send.await_count == 1, "a snapshot from the child", 60.0)
            children = multiprocessing.active_children()
            assert len(children) == 1
    assert bundle.counts["churn"] == 0, "the worker's copy is not learned on"
    published = ModelBundle.from_snapshot(send.call_args.kwargs["value"])
    assert published.version == 1 and published.counts["churn"] == BATCH - 1
    reference.version, reference.churn.version = 1, 1
    reference.published_at = published.published_at
    reference.evaluate()
    assert published.to_data() == reference.to_data(), "the same model as learned here"
    assert trainer.stats["bad_examples"] == bad + 1  # counted and logged by the worker
    [(upsert, row)] = sink_put.call_args.args[0]
    assert upsert is MODEL_VERSIONS and row["version"] == 1
    children[0].join(timeout=10)
    assert not children[0].is_alive()


CHILD_OF_A_KILLED_WORKER = """
import asyncio, multiprocessing, os, signal
from online_models.bundle import ModelBundle
from streams.runtime.learning import InProcess

async def main():
    learner = InProcess(ModelBundle())
    await learner.learn([])
    print(multiprocessing.active_children()[0].pid, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie no reaper collected counts as ended)."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return not any(line.startswith("State:") and "Z" in line.split()[1]
                           for line in status)
    except FileNotFoundError:
        return False


def test_learning_process__ends_with_a_worker_killed_outright() -> None:
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = str(Path(__file__).resolve().parents[2])
    run = subprocess.run([sys.executable, "-c", CHILD_OF_A_KILLED_WORKER], cwd=root,
                         env={**os.environ, "PYTHONPATH": root}, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == -9, run.stderr
    child = int(run.stdout.split()[0])
    deadline = time.monotonic() + 20
    while _running(child) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _running(child), "the trainer's child outlived its killed worker"
