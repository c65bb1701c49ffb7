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
