"""Every topic Lifeline reads or writes, named once, and the operator tick's encoding.

Imports no app: the admin command, the demo, tests and benches read names from here; the
worker's Faust channels for these topics are declared in streams/runtime/channels.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import orjson

from online_models.signing import mac

DAY_MS = 86_400_000


@dataclass(frozen=True)
class TopicSpec:
    """A topic's base name, how many partitions it gets (None: the source count) and how
    long it keeps messages (``retention_days``; None: never expires, with ``compact``)."""

    name: str
    partitions: int | None = None
    retention_days: float | None = 7.0
    compact: bool = False

    def configs(self, retention_days: Mapping[str, float] | None = None) -> dict[str, str]:
        """The topic configs it is created with; ``retention_days`` overrides by base name
        (``LIFELINE_RETENTION_DAYS``; -1 keeps forever).

        >>> USER_EVENTS.configs()
        {'cleanup.policy': 'delete', 'retention.ms': '604800000'}
        >>> MODELS.configs()
        {'cleanup.policy': 'compact', 'retention.ms': '-1'}
        >>> CHURN_ALERTS.configs({"churn-alerts": 30})["retention.ms"]
        '2592000000'
        """
        days = (retention_days or {}).get(self.name, self.retention_days)
        retention = "-1" if days is None or days < 0 else str(int(days * DAY_MS))
        return {"cleanup.policy": "compact" if self.compact else "delete",
                "retention.ms": retention}


# Retention: how long a message is needed, and no longer (raw events hold personal data).
# Sources and outputs: a week of replay / catch-up for their readers (Kafka's default).
USER_EVENTS = TopicSpec("user-events")
DEAD_LETTERS = TopicSpec("user-events-dlq", retention_days=14.0)  # time to look at bad input
SEGMENT_CHANGES = TopicSpec("segment-changes")
CHURN_ALERTS = TopicSpec("churn-alerts")
WINBACK_OUTCOMES = TopicSpec("winback-outcomes")
# Internal: workers -> the one trainer (one partition: one learner), and trainer -> workers.
# Examples are learned within seconds and the trainer resumes from the newest snapshot.
TRAINING = TopicSpec("lifeline-training", partitions=1, retention_days=2.0)
# Compacted, never expires: the newest snapshot is what every (re)started worker scores with.
MODELS = TopicSpec("lifeline-models", partitions=1, retention_days=None, compact=True)
# Erasure requests (key = user id, co-partitioned with user-events: the worker that owns the
# user's state receives them) and the receipts of what was erased, kept a month for audit.
USER_ERASURES = TopicSpec("user-erasures")
ERASURE_RECEIPTS = TopicSpec("erasure-receipts", retention_days=30.0)
# The per-user table's changelog (created by Faust, compacted): an erased user's older states
# are compacted away within a day (Kafka rolls the active segment for it), and the tombstone
# itself is dropped a day after that.
CHANGELOG_CONFIGS = {"max.compaction.lag.ms": str(DAY_MS), "delete.retention.ms": str(DAY_MS)}
ALL_TOPICS = (USER_EVENTS, DEAD_LETTERS, SEGMENT_CHANGES, CHURN_ALERTS, WINBACK_OUTCOMES,
              TRAINING, MODELS, USER_ERASURES, ERASURE_RECEIPTS)

# Operator ticks (`python -m streams rescore`) travel in user-events itself, one per partition,
# marked by this header: they reach exactly the worker that owns the partition's users.
TICK_HEADER = "lifeline-tick"
# With a signing key, a tick carries the HMAC of its value here (online_models/signing.py).
TICK_SIGNATURE_HEADER = "lifeline-signature"


def tick_value(at: float | None, everyone: bool) -> bytes:
    """A tick's message value: move the watermark to ``at`` (epoch s, None: stay), re-assess
    the users due by then, or every user of the partition with ``everyone``."""
    return orjson.dumps({"at": at, "all": everyone})


# Snapshots are keyed by their version modulo this: compaction keeps the newest few, so a
# worker that cannot load the newest one still finds older ones
# (streams/runtime/model_follower.py).
SNAPSHOTS_KEPT = 3


def snapshot_key(version: int) -> bytes:
    """The message key of the snapshot of ``version`` on ``lifeline-models``.

    >>> snapshot_key(7), snapshot_key(8)
    (b'bundle-1', b'bundle-2')
    """
    return f"bundle-{version % SNAPSHOTS_KEPT}".encode()


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
