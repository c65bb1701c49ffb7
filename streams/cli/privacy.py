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
