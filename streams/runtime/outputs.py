"""The worker's database sink and the row shapes it writes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table

from online_models.profile import UserState, decayed_affinity
from streams.app import app
from streams.runtime.channels import training_topic
from streams.runtime.continuity import mark_partition
from streams.runtime.faust_private import changelog_sent_callback
from streams.runtime.tables import profiles_for_user
from streams.runtime.trust import seal
from streams.settings import settings
from streams.storage.database_sink import Row, Sink, Upsert
from streams.storage.schema import (
    Base,
    ChurnAlert,
    ModelVersion,
    SegmentMembership,
    SegmentTransition,
    UserProfile,
    WinbackOutcome,
    make_engine,
)

log = logging.getLogger(__name__)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)  # typed FromClause; a Table at run time


PROFILES = Upsert(_table(UserProfile), ("user_id",), guard="events")
MEMBERSHIPS = Upsert(_table(SegmentMembership), ("user_id", "dimension"))
TRANSITIONS = Upsert(_table(SegmentTransition), ("change_id",), update=False)
ALERTS = Upsert(_table(ChurnAlert), ("alert_id",), update=False)
OUTCOMES = Upsert(_table(WinbackOutcome), ("alert_id",), update=False)
MODEL_VERSIONS = Upsert(_table(ModelVersion), ("version",), update=False)

async def write_changelog(states: Mapping[Any, tuple[int, Any]]) -> None:
    """Publish users' states to the table's changelog and wait until the broker has them.

    Faust's own buffered changelog writes (``send_soon``) are flushed before a commit with a
    0.1 s give-up, so a commit can overtake them; these are awaited before any source ack.
    The partitions' marks (streams/runtime/continuity.py) go last, once the broker holds everything
    the messages below them produced (their states, and what was sent while applying them,
    such as re-keyed events): a mark never claims more than a crash leaves behind.
    """
    table = profiles_for_user

    async def send(items: list[tuple[Any, tuple[int, Any]]]) -> None:
        pending = [await table.changelog_topic.send(
            key=key, value=value, partition=partition,
            callback=changelog_sent_callback(table))  # persisted offsets (rocksdb)
            for key, (partition, value) in items]
        await asyncio.gather(*pending)

    await send([item for item in states.items() if mark_partition(item[0]) is None])
    await app.producer.flush()  # outputs and re-keyed events sent while applying them
    await send([item for item in states.items() if mark_partition(item[0]) is not None])


# Training examples travel in messages of at most this many examples and bytes (under the
# producer's 1,000,000-byte limit with room for the signature; review examples are hashed
# terms, at most ~3.3 KB each).
TRAINING_CHUNK = 500
TRAINING_MAX_BYTES = 900_000


def training_messages(examples: list[dict[str, Any]]) -> list[bytes]:
    """``{"examples": [...]}`` JSON messages of at most :data:`TRAINING_CHUNK` examples and
    :data:`TRAINING_MAX_BYTES` bytes, in order (an example alone over the limit is dropped).

    >>> training_messages([{"k": "rfm", "r": 1.0}] * 3)
    [b'{"examples":[{"k":"rfm","r":1.0},{"k":"rfm","r":1.0},{"k":"rfm","r":1.0}]}']
    """
    messages: list[bytes] = []
    chunk: list[bytes] = []
    size = 20  # {"examples":[...]}
    for example in examples:
        encoded = orjson.dumps(example)
        if len(encoded) + 20 > TRAINING_MAX_BYTES:
            log.warning("training: dropped an example of %d bytes", len(encoded))
            continue
        if chunk and (len(chunk) >= TRAINING_CHUNK or size + len(encoded) > TRAINING_MAX_BYTES):
            messages.append(b'{"examples":[' + b",".join(chunk) + b"]}")
            chunk, size = [], 20
        chunk.append(encoded)
        size += len(encoded) + 1
    if chunk:
        messages.append(b'{"examples":[' + b",".join(chunk) + b"]}")
    return messages


async def send_training(examples: list[dict[str, Any]]) -> None:
    """Publish one flush's training examples, in order, and wait until the broker has them.

    One message per flush (not per source event): the trainer learns the examples in the
    same order, and the worker saves a send per event. Signed when a key is set.
    """
    pending = [await training_topic.send(value=seal(message, purpose="training"))
               for message in training_messages(examples)]
    await asyncio.gather(*pending)


sink = Sink(
    lambda: make_engine(settings.database_url),
    batch=settings.sink_batch,
    interval=settings.sink_interval,
    max_pending=settings.sink_max_pending,
    # A user's state reaches the table's changelog only after its rows reached the database.
    on_state=write_changelog,
    on_outbox=send_training,
)


def when(ts: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def profile_row(user_id: str, state: UserState) -> Row:
    """The ``user_profiles`` row of a user's current state."""
    at = state.last_seen or 0.0
    affinity = decayed_affinity(state, at, settings.profile)
    top = sorted(affinity, key=affinity.__getitem__, reverse=True)[:3]
    segments: dict[str, Any] = state.segments
    return {
        "user_id": user_id,
        "first_seen": when(state.first_seen),
        "last_seen": when(state.last_seen),
        "events": state.events,
        "purchases": state.purchases,
        "revenue": state.revenue,
        "sessions": state.sessions,
        "cart_adds": state.cart_adds,
        "cart_abandons": state.cart_abandons,
        "last_purchase": when(state.last_purchase),
        "top_categories": top,
        "churn_risk": state.churn_risk,
        "lifecycle": segments.get("lifecycle"),
        "value_segment": segments.get("value"),
        "interest_segment": segments.get("interest"),
        "source_offset": state.offset,
    }


@app.task
async def flush_sink_forever() -> None:
    """Background flusher of the database sink."""
    await sink.run()


def _at(iso_ts: str) -> datetime:
    return datetime.fromisoformat(iso_ts)


def change_rows(change: dict[str, Any]) -> list[tuple[Upsert, Row]]:
    """A ``segment-changes`` message as its history row and the user's current membership."""
    at = _at(change["at"])
    return [
        (TRANSITIONS, {"change_id": change["change_id"], "user_id": change["user_id"],
                       "dimension": change["dimension"], "from_segment": change["from"],
                       "to_segment": change["to"], "at": at, "reason": change["reason"]}),
        (MEMBERSHIPS, {"user_id": change["user_id"], "dimension": change["dimension"],
                       "segment": change["to"], "since": at, "change_id": change["change_id"]}),
    ]


def alert_row(alert: dict[str, Any]) -> Row:
    """A ``churn-alerts`` message (treated or control) as its ``churn_alerts`` row."""
    return {
        "alert_id": alert["alert_id"], "user_id": alert["user_id"], "at": _at(alert["at"]),
        "churn_risk": alert["churn_risk"], "p_alive": alert["p_alive"],
        "lifecycle": alert["lifecycle"], "value_segment": alert["value"],
        "reasons": alert["reasons"], "offer": alert["offer"], "categories": alert["categories"],
        "control": alert["control"], "model_version": alert["model_version"],
        "expires_at": _at(alert["expires_at"]),
    }


def outcome_row(outcome: dict[str, Any]) -> Row:
    """A ``winback-outcomes`` message as its row."""
    return {"alert_id": outcome["alert_id"], "user_id": outcome["user_id"],
            "outcome": outcome["outcome"], "revenue": outcome["revenue"],
            "at": _at(outcome["at"]), "control": outcome["control"]}


def model_version_row(metrics: dict[str, Any], published_at: float) -> Row:
    """A ``model_versions`` row from :meth:`ModelBundle.metrics`."""
    return {
        "version": metrics["version"], "published_at": when(published_at),
        "examples": metrics["examples"], "roc_auc": metrics.get("auc"),
        "log_loss": metrics.get("logloss"), "base_rate": metrics.get("base_rate"),
        "drifts": metrics.get("drifts", 0), "details": metrics,
    }


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's stub wants sync
async def flush_sink_on_revoke(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Write everything pending (rows, then states, then acks) before partitions move.

    Otherwise a flush that finishes after the new assignment's recovery could commit offsets
    whose state the recovered table does not hold, and those events would never return.
    """
    await sink.flush()
