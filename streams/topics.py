"""Every topic Lifeline reads or writes, named once, and the operator tick's encoding.

Imports no app: the admin command, the demo, tests and benches read names from here; the
worker's Faust channels for these topics are declared in streams/runtime/channels.py.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson


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
