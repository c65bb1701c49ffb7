"""Operator commands of the privacy features: erasure requests and pseudonym look-ups."""

from __future__ import annotations

from collections.abc import Sequence

from streams.privacy.erasure import request_value
from streams.privacy.pseudonyms import pseudonym
from streams.settings import Settings
from streams.topics import USER_ERASURES


def publish_erasures(settings: Settings, user_ids: Sequence[str], *,
                     at: float) -> dict[str, str]:
    """Publish one erasure request per user to ``user-erasures`` (key = the user id, as on
    ``user-events``, so it reaches the partition of the user's events); returns
    ``{user id: request id}``. ``at``: erase the events up to this event time (epoch s)."""
    import uuid

    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, client_id="lifeline-admin",
                             acks="all", **settings.kafka.client_options())
    sent: dict[str, str] = {}
    try:
        for user_id in user_ids:
            request_id = uuid.uuid4().hex
            producer.send(settings.topic(USER_ERASURES.name), key=user_id.encode(),
                          value=request_value(user_id, at=at, request_id=request_id))
            sent[user_id] = request_id
        producer.flush()
    finally:
        producer.close()
    return sent


def pseudonyms_of(settings: Settings, user_ids: Sequence[str]) -> dict[str, str]:
    """The pseudonym of each id under ``LIFELINE_PSEUDONYM_KEY`` (ValueError when unset)."""
    if settings.pseudonym_key is None:
        raise ValueError("pseudonyms are off: LIFELINE_PSEUDONYM_KEY is not set")
    return {user_id: pseudonym(settings.pseudonym_key, user_id) for user_id in user_ids}


def wait_for_receipts(settings: Settings, request_ids: set[str], *, timeout: float,
                      since: dict[object, int]) -> dict[str, dict[str, object]]:
    """Receipts on ``erasure-receipts`` (read from the offsets ``since``) of ``request_ids``;
    returns those that arrived within ``timeout`` seconds, by request id."""
    import time

    import orjson
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                             enable_auto_commit=False, client_id="lifeline-admin",
                             **settings.kafka.client_options())
    found: dict[str, dict[str, object]] = {}
    try:
        consumer.assign(list(since))
        for tp, offset in since.items():
            consumer.seek(tp, offset)
        deadline = time.monotonic() + timeout
        while request_ids - set(found) and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    try:
                        receipt = orjson.loads(record.value)
                    except orjson.JSONDecodeError:
                        continue
                    if isinstance(receipt, dict) and receipt.get("request_id") in request_ids:
                        found[str(receipt["request_id"])] = receipt
    finally:
        consumer.close()
    return found


def receipt_offsets(settings: Settings) -> dict[object, int]:
    """Where ``erasure-receipts`` ends now, per partition (read receipts from there)."""
    from kafka import KafkaConsumer, TopicPartition

    from streams.runtime.offsets import log_ends_sync
    from streams.topics import ERASURE_RECEIPTS

    topic = settings.topic(ERASURE_RECEIPTS.name)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                             client_id="lifeline-admin", **settings.kafka.client_options())
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        return dict(log_ends_sync(consumer, [TopicPartition(topic, p) for p in parts]))
    finally:
        consumer.close()
