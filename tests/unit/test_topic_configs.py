"""create_topics asks for the per-topic configs: lifeline-models compacted, never expiring."""

from __future__ import annotations

from typing import Any

import pytest

import streams.cli.admin as admin
from streams.settings import Settings

pytestmark = pytest.mark.unit


class FakeAdmin:
    created: list[Any] = []

    def __init__(self, **kwargs: Any) -> None:
        pass

    def list_topics(self) -> list[str]:
        return []

    def create_topics(self, topics: list[Any]) -> None:
        FakeAdmin.created.extend(topics)

    def describe_topics(self, names: list[str]) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def test_create_topics__models_topic_is_compacted_and_never_expires(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(admin, "KafkaAdminClient", FakeAdmin)
    FakeAdmin.created = []
    settings = Settings.from_env({"LIFELINE_TOPIC_PREFIX": "p-", "LIFELINE_PARTITIONS": "3"})
    admin.create_topics(settings)
    asked = {t.name: (t.num_partitions, t.topic_configs) for t in FakeAdmin.created}
    assert asked["p-lifeline-models"] == (1, {"cleanup.policy": "compact", "retention.ms": "-1"})
    assert asked["p-user-events"] == (3, {"cleanup.policy": "delete",
                                          "retention.ms": str(7 * 86_400_000)})
    assert len(asked) == 9
