"""Recovery of the model path: older snapshots serve when the newest does not load, and the
trainer's version counter continues from the database."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaProducer
from kafka import KafkaAdminClient
from kafka.admin import NewTopic

from online_models.bundle import ModelBundle
from streams.runtime.model_follower import ModelCache
from streams.runtime.outputs import recorded_model_version
from streams.topics import snapshot_key

pytestmark = pytest.mark.integration


def test_model_cache__newest_snapshot_that_loads_serves(broker: str) -> None:
    bootstrap = broker.removeprefix("kafka://")
    topic = f"models-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1)])
    admin.close()
    bundle = ModelBundle()
    snapshots = [bundle.snapshot() for _ in range(3)]  # versions 1, 2, 3

    async def run() -> tuple[int, int]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, max_request_size=8 << 20)
        await producer.start()
        try:
            for version, data in enumerate(snapshots, start=1):
                await producer.send_and_wait(topic, data, key=snapshot_key(version))
            # The newest message is corrupt (a truncated pickle): it must not stop scoring.
            await producer.send_and_wait(topic, snapshots[-1][:100], key=snapshot_key(4))
        finally:
            await producer.stop()
        cache = ModelCache(interest_k=8)
        follower = asyncio.create_task(cache.follow(bootstrap, topic))
        await asyncio.wait_for(cache.synced.wait(), timeout=30)
        follower.cancel()
        return cache.current.version, cache.trainer_copy().version

    assert asyncio.run(run()) == (3, 3)


def test_recorded_model_version__is_the_highest_version_in_the_database(database: str) -> None:
    assert recorded_model_version(database) == 0
    engine = sa.create_engine(database)
    with engine.begin() as conn:
        for version in (3, 41, 7):
            conn.execute(sa.text(
                "INSERT INTO model_versions (version, published_at, examples, drifts, details)"
                " VALUES (:v, :t, 0, 0, '{}')"), {"v": version, "t": datetime.now(UTC)})
    engine.dispose()
    assert recorded_model_version(database) == 41
