"""Every topic Lifeline reads or writes, named once, and the operator tick's encoding.

Imports no app: the admin command, the demo, tests and benches read names from here; the
worker's Faust channels for these topics are declared in streams/runtime/channels.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from online_models.signing import mac


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
# With a signing key, a tick carries the HMAC of its value here (online_models/signing.py).
TICK_SIGNATURE_HEADER = "lifeline-signature"


def tick_value(at: float | None, everyone: bool) -> bytes:
    """A tick's message value: move the watermark to ``at`` (epoch s, None: stay), re-assess
    the users due by then, or every user of the partition with ``everyone``."""
    return orjson.dumps({"at": at, "all": everyone})


def tick_headers(value: bytes, key: bytes | None) -> dict[str, bytes]:
    """The headers of a tick with this value: the tick mark, and its signature with a key.

    >>> tick_headers(b"{}", None)
    {'lifeline-tick': b'1'}
    >>> len(tick_headers(b"{}", b"k" * 16)[TICK_SIGNATURE_HEADER])
    64
    """
    headers = {TICK_HEADER: b"1"}
    if key is not None:
        headers[TICK_SIGNATURE_HEADER] = mac(key, value, purpose="tick").encode("ascii")
    return headers
