"""Every topic Lifeline reads or writes, named once, and the operator tick's encoding.

Imports no app: the admin command, the demo, tests and benches read names from here; the
worker's Faust channels for these topics are declared in streams/runtime/channels.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


@dataclass(frozen=True)
class TopicSpec:
    """A topic's base name, how many partitions it gets (None: the source count), and the
    topic configs it is created with (``((name, value), ...)``; none: the broker's)."""

    name: str
    partitions: int | None = None
    configs: tuple[tuple[str, str], ...] = ()


USER_EVENTS = TopicSpec("user-events")
DEAD_LETTERS = TopicSpec("user-events-dlq")
SEGMENT_CHANGES = TopicSpec("segment-changes")
CHURN_ALERTS = TopicSpec("churn-alerts")
WINBACK_OUTCOMES = TopicSpec("winback-outcomes")
# Internal: workers -> the one trainer (one partition: one learner), and trainer -> workers.
TRAINING = TopicSpec("lifeline-training", partitions=1)
# Compacted and never expires: workers and the trainer always find the newest snapshots.
MODELS = TopicSpec("lifeline-models", partitions=1,
                   configs=(("cleanup.policy", "compact"), ("retention.ms", "-1")))
ALL_TOPICS = (USER_EVENTS, DEAD_LETTERS, SEGMENT_CHANGES, CHURN_ALERTS, WINBACK_OUTCOMES,
              TRAINING, MODELS)

# Operator ticks (`python -m streams rescore`) travel in user-events itself, one per partition,
# marked by this header: they reach exactly the worker that owns the partition's users.
TICK_HEADER = "lifeline-tick"


def tick_value(at: float | None, everyone: bool) -> bytes:
    """A tick's message value: move the watermark to ``at`` (epoch s, None: stay), re-assess
    the users due by then, or every user of the partition with ``everyone``."""
    return orjson.dumps({"at": at, "all": everyone})


# Snapshots are keyed by their version modulo this: compaction keeps the newest few, so a
# worker that cannot load the newest one still finds older ones (streams/runtime/model_follower.py).
SNAPSHOTS_KEPT = 3


def snapshot_key(version: int) -> bytes:
    """The message key of the snapshot of ``version`` on ``lifeline-models``.

    >>> snapshot_key(7), snapshot_key(8)
    (b'bundle-1', b'bundle-2')
    """
    return f"bundle-{version % SNAPSHOTS_KEPT}".encode()
