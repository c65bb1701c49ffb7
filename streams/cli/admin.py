"""Topic creation (kafka-python admin) and database migration, used by CLI commands and tests."""

from __future__ import annotations

import logging
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

log = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parents[2] / "migrations"


def topic_plan(settings: Settings) -> dict[str, int]:
    """Every topic Lifeline needs and its partition count."""
    from streams.topics import ALL_TOPICS

    return {settings.topic(t.name): t.partitions or settings.partitions for t in ALL_TOPICS}


def topic_configs(settings: Settings) -> dict[str, dict[str, str]]:
    """Every topic Lifeline needs and the configs it is created with (retention, cleanup)."""
    from streams.topics import ALL_TOPICS

    return {settings.topic(t.name): t.configs(settings.retention_days) for t in ALL_TOPICS}


def create_topics(settings: Settings) -> dict[str, str]:
    """Create missing topics with their partition counts and configs; idempotent.

    Returns ``{topic: "created" | "exists"}``. Raises ``ValueError`` if an existing topic has
    a different partition count (tables would be sharded wrongly). The configs of existing
    topics are left as they are (change them with the cluster's own tools).
    """
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap, client_id="lifeline-admin",
                             **settings.kafka.client_options())
    try:
        plan, configs = topic_plan(settings), topic_configs(settings)
        existing = set(admin.list_topics())
        result: dict[str, str] = {}
        for name, partitions in plan.items():
            if name in existing:
                result[name] = "exists"
                continue
            try:
                admin.create_topics([NewTopic(name, partitions, settings.replication,
                                              topic_configs=configs[name])])
                result[name] = "created"
            except TopicAlreadyExistsError:
                result[name] = "exists"
        existing_names = [n for n, r in result.items() if r == "exists"]
        # (an empty list would describe every topic of the cluster)
        described = admin.describe_topics(existing_names) if existing_names else []
        for desc in described:
            have = len(desc.get("partitions", []))
            name = desc.get("name") or desc.get("topic")
            if name not in plan:
                continue
            want = plan[name]
            if have and have != want:
                raise ValueError(f"topic {name} has {have} partitions, expected {want}"
                                 " (LIFELINE_PARTITIONS)")
        return result
    finally:
        admin.close()


def migrate(database_url: str, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` on ``database_url``."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    command.upgrade(cfg, revision)


def publish_ticks(settings: Settings, *, at: float | None, everyone: bool) -> int:
    """Send one tick to every partition of ``user-events``; returns how many were sent."""
    from kafka import KafkaProducer

    from streams.topics import USER_EVENTS, tick_headers, tick_value

    topic = settings.topic(USER_EVENTS.name)
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, client_id="lifeline-admin",
                             **settings.kafka.client_options())
    try:
        value = tick_value(at, everyone)
        for partition in range(settings.partitions):
            producer.send(topic, value=value, partition=partition,
                          headers=list(tick_headers(value, settings.signing_key).items()))
        producer.flush()
    finally:
        producer.close()
    return settings.partitions
