"""The one learner: learns every training example and publishes model snapshots.

``lifeline-training`` has one partition, so exactly one worker of the group runs this agent's
stream at a time. It resumes from the newest published snapshot (its version never below the
highest in ``model_versions``, so numbering survives the loss of the model topic), learns
resolved churn labels (progressive validation, every churn candidate scored first), buyers
(the BG/NBD priors), rated reviews, RFM observations and interest vectors, and publishes a new
versioned bundle every ``LIFELINE_SNAPSHOT_EXAMPLES`` examples or ``LIFELINE_SNAPSHOT_SECONDS``
seconds, recording its quality in ``model_versions``. Training batches that are refused
(signature, see streams/runtime/trust.py) or are not JSON are counted and skipped, and so are
examples that do not decode (online_models/training.py); a snapshot over the message limit is
logged and not published.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import orjson
from faust import StreamT

from online_models.bundle import MAX_SNAPSHOT_BYTES, SnapshotTooLarge
from online_models.training import TrainingExample, decode_example
from streams.app import app
from streams.runtime.channels import models_topic, training_topic
from streams.runtime.continuity import until_done
from streams.runtime.model_follower import models
from streams.runtime.outputs import (
    MODEL_VERSIONS,
    model_version_row,
    recorded_model_version,
    sink,
)
from streams.runtime.trust import opened, seal
from streams.settings import settings
from streams.topics import snapshot_key

log = logging.getLogger(__name__)
_logged = {"label": -1}  # champion switches up to this label count were logged

stats = {"batches": 0, "bad_batches": 0, "bad_examples": 0, "oversized_snapshots": 0}


async def publish_snapshot(bundle: Any) -> None:
    """Publish the bundle to every worker and record the version's quality (the snapshot
    judges the churn candidates first; a change of the served one is logged). A snapshot over
    the message limit is refused, logged and counted: the workers keep the previous one."""
    try:  # off the event loop, as learning is (see train_models)
        data = await asyncio.to_thread(bundle.snapshot, max_bytes=MAX_SNAPSHOT_BYTES)
    except SnapshotTooLarge as exc:
        stats["oversized_snapshots"] += 1
        log.error("trainer: not publishing: %s (%d times)", exc, stats["oversized_snapshots"])
        return
    await models_topic.send(key=snapshot_key(bundle.version), value=seal(data, purpose="models"))
    metrics = bundle.metrics()
    new = [h for h in bundle.champion.history if h["label"] > _logged["label"]]
    _logged["label"] = bundle.champion.labels
    for switch in new:
        log.warning("trainer: churn risk is now served by %s (was %s; %s at label %s): %s",
                    switch["to"], switch["from"], switch["reason"], switch["label"],
                    metrics["candidates"])
    await sink.put([(MODEL_VERSIONS, model_version_row(metrics, bundle.published_at))], None)
    log.info("trainer: published model version %s (%d bytes): %s", bundle.version, len(data),
             metrics)


def examples_of(message: Any) -> list[TrainingExample]:
    """The examples of one training message ([] if it is refused or malformed; an example
    that does not decode is counted, logged and left out)."""
    stats["batches"] += 1
    data = opened(message, purpose="training", origin="lifeline-training") \
        if isinstance(message, bytes) else None
    try:
        decoded = orjson.loads(data) if data is not None else None
    except orjson.JSONDecodeError:
        decoded = None
    batch = decoded.get("examples") if isinstance(decoded, dict) else None
    if not isinstance(batch, list):
        stats["bad_batches"] += 1
        return []
    examples = []
    for raw in batch:
        try:
            examples.append(decode_example(raw))
        except ValueError as exc:
            stats["bad_examples"] += 1
            bad = stats["bad_examples"]
            if bad & (bad - 1) == 0:  # the 1st, 2nd, 4th, 8th, ...
                log.warning("trainer: ignoring a malformed training example: %s (%d so far)",
                            exc, bad)
    return examples


def learn_all(bundle: Any, messages: list[Any]) -> int:
    """Learn every example of ``messages`` in order; returns how many were learned."""
    fresh = 0
    for message in messages:
        for ex in examples_of(message):
            fresh += bundle.learn(ex)
    return fresh


@app.agent(training_topic)
async def train_models(stream: StreamT[bytes]) -> None:
    """Learn from the training topic (``{"examples": [...]}`` per worker sink flush); publish
    snapshots by count or time."""
    await models.synced.wait()
    bundle = models.trainer_copy()
    # Versions only grow, even if the model topic was lost: continue from the database.
    recorded = await until_done("reading model_versions", lambda: asyncio.to_thread(
        recorded_model_version, settings.database_url))
    if recorded > bundle.version:
        log.warning("trainer: model_versions holds version %s, the model topic %s; "
                    "numbering continues from %s", recorded, bundle.version, recorded)
        bundle.version = recorded
    fresh, last = 0, time.monotonic()
    async for messages in stream.take(500, within=settings.snapshot_seconds):
        # In a thread: a batch can take hundreds of ms (a BG/NBD refit alone is two scipy
        # fits), which on the event loop would hold up every event of this worker. Only this
        # agent touches its bundle, and it waits here, so the examples stay in order.
        fresh += await asyncio.to_thread(learn_all, bundle, messages)
        if fresh and (fresh >= settings.snapshot_examples
                      or time.monotonic() - last >= settings.snapshot_seconds):
            await publish_snapshot(bundle)
            fresh, last = 0, time.monotonic()
