"""The one learner: learns every training example and publishes model snapshots.

``lifeline-training`` has one partition, so exactly one worker of the group runs this agent's
stream at a time. It resumes from the newest published snapshot, learns resolved churn labels
(progressive validation), rated reviews, RFM observations and interest vectors, and publishes
a new versioned bundle every ``LIFELINE_SNAPSHOT_EXAMPLES`` examples or
``LIFELINE_SNAPSHOT_SECONDS`` seconds, recording its quality in ``model_versions``. Training
batches that are refused (signature, see streams/runtime/trust.py) or are not JSON are counted
and skipped; a snapshot over the message limit is logged and not published.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import orjson
from faust import StreamT

from online_models.bundle import MAX_SNAPSHOT_BYTES, SnapshotTooLarge
from streams.app import app
from streams.runtime.channels import models_topic, training_topic
from streams.runtime.model_follower import models
from streams.runtime.outputs import MODEL_VERSIONS, model_version_row, sink
from streams.runtime.trust import opened, seal
from streams.settings import settings

log = logging.getLogger(__name__)

stats = {"batches": 0, "bad_batches": 0, "oversized_snapshots": 0}


async def publish_snapshot(bundle: Any) -> None:
    """Publish the bundle to every worker and record the version's quality (a snapshot over
    the message limit is refused, logged and counted: the workers keep the previous one)."""
    try:
        data = bundle.snapshot(max_bytes=MAX_SNAPSHOT_BYTES)
    except SnapshotTooLarge as exc:
        stats["oversized_snapshots"] += 1
        log.error("trainer: not publishing: %s (%d times)", exc, stats["oversized_snapshots"])
        return
    await models_topic.send(key=b"bundle", value=seal(data, purpose="models"))
    metrics = bundle.metrics()
    await sink.put([(MODEL_VERSIONS, model_version_row(metrics, bundle.published_at))], None)
    log.info("trainer: published model version %s (%d bytes): %s", bundle.version, len(data),
             metrics)


def examples_of(message: Any) -> list[Any]:
    """The examples of one training message ([] if it is refused or malformed)."""
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
    return batch


@app.agent(training_topic)
async def train_models(stream: StreamT[bytes]) -> None:
    """Learn from the training topic (``{"examples": [...]}`` per worker sink flush); publish
    snapshots by count or time."""
    await models.synced.wait()
    bundle = models.trainer_copy()
    fresh, last = 0, time.monotonic()
    async for messages in stream.take(500, within=settings.snapshot_seconds):
        for message in messages:
            batch = examples_of(message)
            for ex in batch:
                if isinstance(ex, dict):
                    fresh += bundle.learn(ex)
        if fresh and (fresh >= settings.snapshot_examples
                      or time.monotonic() - last >= settings.snapshot_seconds):
            await publish_snapshot(bundle)
            fresh, last = 0, time.monotonic()
