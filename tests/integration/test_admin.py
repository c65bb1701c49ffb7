"""Topic creation on a real broker: idempotent, and a partition mismatch is refused."""

from __future__ import annotations

import dataclasses
import uuid

import pytest

from streams.cli.admin import create_topics
from streams.settings import Settings

pytestmark = pytest.mark.integration


def test_create_topics__idempotent_and_refuses_partition_mismatch(broker: str) -> None:
    settings = Settings.from_env({"LIFELINE_BROKER": broker, "LIFELINE_PARTITIONS": "3",
                                  "LIFELINE_TOPIC_PREFIX": f"adm-{uuid.uuid4().hex[:8]}-"})
    first = create_topics(settings)
    assert set(first.values()) == {"created"} and settings.topic("user-events") in first
    assert set(create_topics(settings).values()) == {"exists"}
    with pytest.raises(ValueError, match="has 3 partitions, expected 5"):
        create_topics(dataclasses.replace(settings, partitions=5))


async def test_create_topics__retention_and_cleanup_per_topic(broker: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    settings = Settings.from_env({"LIFELINE_BROKER": broker,
                                  "LIFELINE_TOPIC_PREFIX": f"ret-{uuid.uuid4().hex[:8]}-",
                                  "LIFELINE_RETENTION_DAYS": "churn-alerts=30"})
    create_topics(settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
    await admin.start()
    try:
        names = ["lifeline-models", "user-events", "churn-alerts", "lifeline-training"]
        described = await admin.describe_configs([
            ConfigResource(ConfigResourceType.TOPIC, settings.topic(n)) for n in names])
    finally:
        await admin.close()
    configs = {resource[3]: {entry[0]: entry[1] for entry in resource[4]}
               for response in described for resource in response.resources}
    models = configs[settings.topic("lifeline-models")]
    events = configs[settings.topic("user-events")]
    assert (models["cleanup.policy"], models["retention.ms"]) == ("compact", "-1")
    assert (events["cleanup.policy"], events["retention.ms"]) == ("delete", "604800000")
    assert configs[settings.topic("churn-alerts")]["retention.ms"] == str(30 * 86_400_000)
    assert configs[settings.topic("lifeline-training")]["retention.ms"] == str(2 * 86_400_000)
