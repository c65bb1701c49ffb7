"""The worker's Faust channels for the topics named in streams/topics.py."""

from __future__ import annotations

from streams.app import app
from streams.settings import settings
from streams.topics import (
    CHURN_ALERTS,
    DEAD_LETTERS,
    ERASURE_RECEIPTS,
    MODELS,
    SEGMENT_CHANGES,
    TRAINING,
    USER_ERASURES,
    USER_EVENTS,
    WINBACK_OUTCOMES,
)

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

# Outputs are the fixed JSON shapes of DESIGN.md, sent as the bytes of their records' one
# encoding (online_models/messages.py: ``segment-changes`` has fields named ``from`` / ``to``,
# which a Faust Record cannot declare).
segment_changes_topic = app.topic(
    settings.topic(SEGMENT_CHANGES.name), key_serializer="raw", value_serializer="raw"
)
churn_alerts_topic = app.topic(
    settings.topic(CHURN_ALERTS.name), key_serializer="raw", value_serializer="raw"
)
winback_outcomes_topic = app.topic(
    settings.topic(WINBACK_OUTCOMES.name), key_serializer="raw", value_serializer="raw"
)
# Training batches as bytes: JSON ``{"examples": [...]}`` (online_models/training.py), signed
# when a key is set (streams/runtime/trust.py); the trainer checks them before decoding.
training_topic = app.topic(
    settings.topic(TRAINING.name), key_serializer="raw", value_type=bytes,
    value_serializer="raw", partitions=1,
)
# ModelBundle snapshots (JSON data, signed when a key is set); every worker reads them all
# (no consumer group), see streams/runtime/model_follower.py.
models_topic = app.topic(
    settings.topic(MODELS.name), key_serializer="raw", value_serializer="raw", partitions=1
)
# Erasure requests: raw bytes (validated by streams/privacy/erasure.py), key = user id, as many
# partitions as user-events, so Faust assigns partition p of both to the same worker.
user_erasures_topic = app.topic(
    settings.topic(USER_ERASURES.name),
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=settings.partitions,
)
erasure_receipts_topic = app.topic(
    settings.topic(ERASURE_RECEIPTS.name), key_serializer="raw", value_serializer="json"
)
