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

from faust import StreamT

from online_models.bundle import MAX_SNAPSHOT_BYTES, SnapshotTooLarge
from online_models.training import TrainingExample
from streams.app import app
from streams.runtime.channels import models_topic, training_topic
from streams.runtime.continuity import until_done
from streams.runtime.learning import Learned, Learner, examples_in
from streams.runtime.learning import learner as make_learner
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


async def publish_snapshot(learner: Learner) -> None:
    """Publish the learner's bundle to every worker and record the version's quality (the
    snapshot judges the churn candidates first; a change of the served one is logged). A
    snapshot over the message limit is refused, logged and counted: the workers keep the
    previous one."""
    try:  # off the event loop, as learning is (see train_models)
        snap = await learner.publish(MAX_SNAPSHOT_BYTES)
    except SnapshotTooLarge as exc:
        stats["oversized_snapshots"] += 1
        log.error("trainer: not publishing: %s (%d times)", exc, stats["oversized_snapshots"])
        return
    await models_topic.send(key=snapshot_key(snap.version),
                            value=seal(snap.data, purpose="models"))
    metrics = snap.metrics
    new = [h for h in snap.switches if h["label"] > _logged["label"]]
    _logged["label"] = snap.labels
    for switch in new:
        log.warning("trainer: churn risk is now served by %s (was %s; %s at label %s): %s",
                    switch["to"], switch["from"], switch["reason"], switch["label"],
                    metrics["candidates"])
    await sink.put([(MODEL_VERSIONS, model_version_row(metrics, snap.published_at))], None)
    log.info("trainer: published model version %s (%d bytes): %s", snap.version,
             len(snap.data), metrics)


def payload_of(message: Any) -> bytes | None:
    """The payload of one training message, ``None`` if it is refused (signature, see
    streams/runtime/trust.py) or not bytes."""
    return opened(message, purpose="training", origin="lifeline-training") \
        if isinstance(message, bytes) else None


def account(learned: Learned) -> None:
    """Count and log what learning a batch refused."""
    stats["bad_batches"] += learned.bad_batches
    for error in learned.bad_examples:
        stats["bad_examples"] += 1
        bad = stats["bad_examples"]
        if bad & (bad - 1) == 0:  # the 1st, 2nd, 4th, 8th, ...
            log.warning("trainer: ignoring a malformed training example: %s (%d so far)",
                        error, bad)


def examples_of(message: Any) -> list[TrainingExample]:
    """The examples of one training message ([] if it is refused or malformed; an example
    that does not decode is counted, logged and left out)."""
    stats["batches"] += 1
    examples, errors = examples_in(payload_of(message))
    account(Learned(0, int(examples is None), tuple(errors)))
    return examples or []


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
    # Off the event loop: a batch can take hundreds of ms (a BG/NBD refit alone is two scipy
    # fits), which would hold up every event of this worker. In a child process by default
    # (streams/runtime/learning.py). Only this agent learns, one batch at a time, in order.
    learner = make_learner(bundle, settings.trainer)
    try:
        async for messages in stream.take(500, within=settings.snapshot_seconds):
            stats["batches"] += len(messages)
            learned = await learner.learn([payload_of(m) for m in messages])
            account(learned)
            fresh += learned.fresh
            if fresh and (fresh >= settings.snapshot_examples
                          or time.monotonic() - last >= settings.snapshot_seconds):
                await publish_snapshot(learner)
                fresh, last = 0, time.monotonic()
    finally:
        learner.close()
