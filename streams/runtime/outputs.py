"""The worker's database sink and the row shapes it writes."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import orjson
from sqlalchemy import Table, func, select

from online_models.messages import Alert, Outcome, SegmentChange
from online_models.profile import UserState, decayed_affinity
from online_models.training import TrainingExample
from streams.app import app
from streams.runtime.channels import training_topic
from streams.runtime.chunks import chunks_by_bytes
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


async def send_training(examples: list[TrainingExample]) -> None:
    """Publish one flush's training examples, in order, and wait until the broker has them.

    One message per flush (not per source event), split by size: at most 500 examples and
    ``MESSAGE_MAX_BYTES`` per message (review texts make examples large). The trainer learns
    the examples in the same order, and the worker saves a send per event. Signed when a key
    is set (streams/runtime/trust.py).
    """
    pending = [await training_topic.send(
        value=seal(orjson.dumps({"examples": chunk}), purpose="training"))
        for chunk in chunks_by_bytes([ex.to_dict() for ex in examples])]
    await asyncio.gather(*pending)


sink = Sink(
    lambda: make_engine(settings.database_url, connect_timeout=settings.db_connect_timeout_s,
                        statement_timeout=settings.db_statement_timeout_s,
                        lock_timeout=settings.db_lock_timeout_s),
    batch=settings.sink_batch,
    interval=settings.sink_interval,
    max_pending=settings.sink_max_pending,
    max_pending_rows=max(settings.sink_max_pending_rows, settings.sink_batch),
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


def change_rows(change: SegmentChange) -> list[tuple[Upsert, Row]]:
    """A ``segment-changes`` message as its history row and the user's current membership."""
    at = _at(change.at)
    return [
        (TRANSITIONS, {"change_id": change.change_id, "user_id": change.user_id,
                       "dimension": change.dimension, "from_segment": change.from_segment,
                       "to_segment": change.to_segment, "at": at, "reason": change.reason}),
        (MEMBERSHIPS, {"user_id": change.user_id, "dimension": change.dimension,
                       "segment": change.to_segment, "since": at,
                       "change_id": change.change_id}),
    ]


def alert_row(alert: Alert) -> Row:
    """A ``churn-alerts`` message (treated or control) as its ``churn_alerts`` row; the JSON
    columns hold what the message holds."""
    d = alert.to_dict()
    return {
        "alert_id": alert.alert_id, "user_id": alert.user_id, "at": _at(alert.at),
        "churn_risk": alert.churn_risk, "p_alive": alert.p_alive,
        "lifecycle": alert.lifecycle, "value_segment": alert.value,
        "reasons": d["reasons"], "offer": d["offer"], "categories": d["categories"],
        "control": alert.control, "model_version": alert.model_version,
        "expires_at": _at(alert.expires_at),
    }


def outcome_row(outcome: Outcome) -> Row:
    """A ``winback-outcomes`` message as its row."""
    return {"alert_id": outcome.alert_id, "user_id": outcome.user_id,
            "outcome": outcome.outcome, "revenue": outcome.revenue,
            "at": _at(outcome.at), "control": outcome.control}


def recorded_model_version(database_url: str) -> int:
    """The highest model version recorded in ``model_versions`` (0 if none). Blocking."""
    engine = make_engine(database_url, connect_timeout=settings.db_connect_timeout_s,
                         statement_timeout=settings.db_statement_timeout_s)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.max(ModelVersion.version))).scalar() or 0)
    finally:
        engine.dispose()


def model_version_row(metrics: dict[str, Any], published_at: float) -> Row:
    """A ``model_versions`` row from :meth:`ModelBundle.metrics`."""
    return {
        "version": metrics["version"], "published_at": when(published_at),
        "examples": metrics["examples"], "roc_auc": metrics.get("auc"),
        "log_loss": metrics.get("logloss"), "base_rate": metrics.get("base_rate"),
        "drifts": metrics.get("drifts", 0), "details": metrics,
        "serving": metrics.get("serving"), "candidates": metrics.get("candidates"),
        "priors": metrics.get("priors"),
    }


@app.on_partitions_revoked.connect  # type: ignore[arg-type]  # mode's stub wants sync
async def flush_sink_on_revoke(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Write everything pending (rows, then states, then acks) before partitions move.

    Otherwise a flush that finishes after the new assignment's recovery could commit offsets
    whose state the recovered table does not hold, and those events would never return.
    """
    await sink.flush()
