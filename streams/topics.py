"""Every topic Lifeline reads or writes, declared once."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from streams.app import app
from streams.settings import settings


@dataclass(frozen=True)
class TopicSpec:
    """A topic's base name and how many partitions it gets (None: the source count)."""

    name: str
    partitions: int | None = None


USER_EVENTS = TopicSpec("user-events")
DEAD_LETTERS = TopicSpec("user-events-dlq")
SEGMENT_CHANGES = TopicSpec("segment-changes")
CHURN_ALERTS = TopicSpec("churn-alerts")
WINBACK_OUTCOMES = TopicSpec("winback-outcomes")
# Internal: workers -> the one trainer (one partition: one learner), and trainer -> workers.
TRAINING = TopicSpec("lifeline-training", partitions=1)
MODELS = TopicSpec("lifeline-models", partitions=1)
ALL_TOPICS = (USER_EVENTS, DEAD_LETTERS, SEGMENT_CHANGES, CHURN_ALERTS, WINBACK_OUTCOMES,
              TRAINING, MODELS)

# Operator ticks (`python -m streams rescore`) travel in user-events itself, one per partition,
# marked by this header: they reach exactly the worker that owns the partition's users.
TICK_HEADER = "lifeline-tick"


def tick_value(at: float | None, everyone: bool) -> bytes:
    """A tick's message value: move the watermark to ``at`` (epoch s, None: stay), re-assess
    the users due by then, or every user of the partition with ``everyone``."""
    return orjson.dumps({"at": at, "all": everyone})

# Raw bytes in: every message is validated by online_models.contract, never decoded by Faust,
# so a malformed message can reach the dead-letter topic with its original bytes.
user_events_topic = app.topic(
    settings.topic(USER_EVENTS.name),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.partitions,
)
dead_letters_topic = app.topic(
    settings.topic(DEAD_LETTERS.name), key_serializer="raw", value_serializer="json"
)

# Outputs are the fixed JSON shapes of DESIGN.md (``segment-changes`` has fields named
# ``from`` / ``to``, which a Record cannot declare), published as JSON objects.
segment_changes_topic = app.topic(
    settings.topic(SEGMENT_CHANGES.name), key_serializer="raw", value_serializer="json"
)
churn_alerts_topic = app.topic(
    settings.topic(CHURN_ALERTS.name), key_serializer="raw", value_serializer="json"
)
winback_outcomes_topic = app.topic(
    settings.topic(WINBACK_OUTCOMES.name), key_serializer="raw", value_serializer="json"
)
training_topic = app.topic(
    settings.topic(TRAINING.name), key_serializer="raw", value_serializer="json", partitions=1
)
# Pickled ModelBundle snapshots; every worker reads them all (no consumer group), see models.py.
models_topic = app.topic(
    settings.topic(MODELS.name), key_serializer="raw", value_serializer="raw", partitions=1
)
