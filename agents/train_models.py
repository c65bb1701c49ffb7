"""The one learner: learns every training example and publishes model snapshots.

``lifeline-training`` has one partition, so exactly one worker of the group runs this agent's
stream at a time. It resumes from the newest published snapshot (its version never below the
highest in ``model_versions``, so numbering survives the loss of the model topic), learns
resolved churn labels (progressive validation, every churn candidate scored first), buyers
(the BG/NBD priors), rated reviews, RFM observations and interest vectors, and publishes a new
versioned bundle every ``LIFELINE_SNAPSHOT_EXAMPLES`` examples or ``LIFELINE_SNAPSHOT_SECONDS``
seconds, recording its quality in ``model_versions``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faust import StreamT

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
from streams.settings import settings
from streams.topics import snapshot_key

log = logging.getLogger(__name__)
_logged = {"label": -1}  # champion switches up to this label count were logged


async def publish_snapshot(bundle: Any) -> None:
    """Publish the bundle to every worker and record the version's quality (the snapshot
    judges the churn candidates first; a change of the served one is logged)."""
    data = bundle.snapshot()
    await models_topic.send(key=snapshot_key(bundle.version), value=data)
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


@app.agent(training_topic)
async def train_models(stream: StreamT[dict[str, Any]]) -> None:
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
    async for examples in stream.take(500, within=settings.snapshot_seconds):
        for message in examples:
            batch = message.get("examples", []) if isinstance(message, dict) else []
            for ex in batch:
                if isinstance(ex, dict):
                    fresh += bundle.learn(ex)
        if fresh and (fresh >= settings.snapshot_examples
                      or time.monotonic() - last >= settings.snapshot_seconds):
            await publish_snapshot(bundle)
            fresh, last = 0, time.monotonic()
