"""One learner, many scorers: every worker follows the model topic and scores with its copy.

The trainer (``agents/train_models.py``) publishes :class:`ModelBundle` snapshots (JSON
data, signed when a key is set) to ``lifeline-models`` (compacted, never expires; keys cycle
over ``SNAPSHOTS_KEPT`` values, so the newest few survive compaction). Each worker reads that
topic from its last few messages on (a plain consumer without a group, so every worker sees
every snapshot) and swaps its scoring bundle in place. A refused or unloadable message is
logged, counted and ignored: a restarted worker, or a trainer that moved to another worker,
resumes from the newest snapshot that loads, and the newest older one that loads keeps serving.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from online_models.bundle import ModelBundle
from streams.app import app
from streams.runtime.channels import models_topic
from streams.runtime.offsets import log_ends
from streams.runtime.trust import opened
from streams.settings import settings
from streams.topics import SNAPSHOTS_KEPT

log = logging.getLogger(__name__)


class ModelCache:
    """The newest model bundle this worker knows, and the raw bytes it came from."""

    def __init__(self, *, interest_k: int, horizon_days: float = 90.0,
                 min_learner_labels: int = 2000) -> None:
        self.interest_k, self.horizon_days = interest_k, horizon_days
        self.min_learner_labels = min_learner_labels
        self.current = self.fresh()
        self.raw: bytes | None = None  # the snapshot's data (without its signature)
        self.unloadable = 0  # snapshots that were not valid data
        self.synced = asyncio.Event()  # set once the topic was read up to its end at start

    def load(self, message: bytes, *, origin: str = "lifeline-models") -> None:
        """Swap in the bundle of a snapshot (ignored, with a log line, if it is refused or
        does not load: a foreign message must not stop scoring)."""
        data = opened(message, purpose="models", origin=origin)
        if data is None:
            return
        try:
            bundle = ModelBundle.from_snapshot(data)
        except Exception as exc:  # ValueError for bad data; anything else must not stop us
            self.unloadable += 1
            log.warning("models: ignoring a snapshot from %s that does not load: %s", origin,
                        str(exc)[:300])
            return
        if bundle.version >= self.current.version:
            self.current, self.raw = bundle, data
            log.info("models: scoring with version %s", bundle.version)

    def fresh(self) -> ModelBundle:
        """A bundle before any learning (the BG/NBD prior serves churn risk)."""
        return ModelBundle(interest_k=self.interest_k, horizon_days=self.horizon_days,
                           min_learner_labels=self.min_learner_labels)

    def trainer_copy(self) -> ModelBundle:
        """A private bundle for the trainer to learn on (the newest snapshot, else fresh)."""
        if self.raw is None:
            return self.fresh()
        return ModelBundle.from_snapshot(self.raw)

    async def follow(self, bootstrap: str, topic: str) -> None:
        """Read the newest snapshot, then every new one, forever."""
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    enable_auto_commit=False, fetch_max_bytes=64 << 20,
                                    max_partition_fetch_bytes=64 << 20,
                                    **settings.kafka.client_options())
        await consumer.start()
        try:
            tp = TopicPartition(topic, 0)
            consumer.assign([tp])
            end = (await log_ends(consumer, [tp]))[tp]
            if end > 0:  # the newest few: if the newest does not load, an older one serves
                consumer.seek(tp, max(0, end - SNAPSHOTS_KEPT))
            else:
                self.synced.set()
            while True:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for msg in batch.get(tp, []):
                    if msg.value is not None:
                        self.load(msg.value, origin=f"{topic}@{msg.offset}")
                    if msg.offset >= end - 1:
                        self.synced.set()
        finally:
            await consumer.stop()


models = ModelCache(interest_k=settings.engine.interest_k,
                    horizon_days=settings.engine.horizon_days,
                    min_learner_labels=settings.churn_min_labels)


@app.task
async def follow_model_snapshots() -> None:
    """Keep this worker's scoring bundle current."""
    await models.follow(settings.bootstrap, models_topic.get_topic_name())
