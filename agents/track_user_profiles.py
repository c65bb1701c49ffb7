"""Validate every ``user-events`` message, keep each user's live profile, score and segment.

Bad input goes to ``user-events-dlq`` with its reason and origin. A valid event updates the
user's state (``profiles_for_user``) through the pure lifecycle step of online_models.engine,
advances its partition's watermark, and re-assesses the silent users whose due time the
watermark passed. Outputs go to their topics and, with the profile rows, to the database
sink; the state reaches the table's changelog and the message is acked only after the sink
wrote the rows (see streams/storage/database_sink.py). Every message moves its partition's
mark; a message that arrives past the mark first has the messages in between read from the
broker and applied (see streams/runtime/continuity.py), so no message the consumer skips is lost.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiokafka import TopicPartition
from faust import StreamT
from faust.types import TP

import streams.runtime.clock  # noqa: F401  # registers the live wall-clock tick (if enabled)
from online_models.contract import Rejection, parse_event
from online_models.engine import Emits, on_event, on_tick
from online_models.profile import UserState
from online_models.schedule import DueSchedule
from streams.app import app
from streams.records import DeadLetter
from streams.runtime.channels import (
    churn_alerts_topic,
    dead_letters_topic,
    segment_changes_topic,
    user_events_topic,
    winback_outcomes_topic,
)
from streams.runtime.continuity import (
    Marks,
    mark_key,
    read_range,
    release_skipped,
    start_offsets,
    until_done,
)
from streams.runtime.model_follower import models
from streams.runtime.outputs import (
    ALERTS,
    OUTCOMES,
    PROFILES,
    alert_row,
    change_rows,
    outcome_row,
    profile_row,
    sink,
)
from streams.runtime.tables import complete_recovery, profiles_for_user
from streams.runtime.trust import tick_refusal
from streams.settings import settings
from streams.storage.database_sink import Ack, Row, Upsert
from streams.topics import TICK_HEADER

log = logging.getLogger(__name__)

stats = {"valid": 0, "duplicate": 0, "dead_letters": 0, "rekeyed": 0, "ticks": 0,
         "refetched": 0}

# Per source partition: the watermark (max event time seen) and the schedule of due users.
# Both are derived from the table, so they are rebuilt after every rebalance.
watermarks: dict[int, float] = {}
schedules: dict[int, DueSchedule] = {}
# Per source partition: the next offset not yet applied (streams/runtime/continuity.py).
marks = Marks()
# Per source partition: the offset of the consumer's previous message in this assignment.
_delivered: dict[int, int] = {}
# Assignments seen (bumped by every rebalance) and the one the table was last completed for.
_assignment = {"seen": 0, "ready": -1}


@dataclass(frozen=True, slots=True)
class Source:
    """Where a ``user-events`` message came from: enough to dead-letter or replay it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Any = None


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode's stub wants sync
async def forget_partitions(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Partitions moved: complete the table and rebuild watermarks before the next event."""
    _assignment["seen"] += 1


async def prepare() -> None:
    """Before the first event of an assignment: newest model, complete table, schedules."""
    generation = _assignment["seen"]
    await models.synced.wait()  # score with the newest published model, never a blank one
    await complete_recovery(profiles_for_user)
    rebuild()
    await start_unmarked()
    _assignment["ready"] = generation


async def start_unmarked() -> None:
    """Give the assigned source partitions without a mark the offset they start at."""
    topic = user_events_topic.get_topic_name()
    tps = [TopicPartition(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()
           if tp.topic == topic and tp.partition not in marks.next]
    if not tps:
        return
    starts = await until_done(f"start offsets of {tps}", lambda: start_offsets(
        settings.bootstrap, settings.app_id, tps))
    for tp, offset in starts.items():
        marks.start_at(tp.partition, offset)
    log.info("partitions without a mark start at %s",
             {tp.partition: offset for tp, offset in sorted(starts.items())})


def rebuild() -> None:
    """Watermarks, due schedules and marks of this worker's partitions, from its table."""
    watermarks.clear()
    schedules.clear()
    _delivered.clear()
    marks.next.clear()
    for user_id, raw in profiles_for_user.items():  # one pass over the whole table
        if marks.take(user_id, raw):
            continue
        ext = (raw or {}).get("ext", {})
        partition, due = ext.get("p"), ext.get("due")
        if partition is None:
            continue
        last = (raw or {}).get("last_seen") or 0.0
        watermarks[partition] = max(watermarks.get(partition, 0.0), last)
        if due is not None:
            schedules.setdefault(partition, DueSchedule()).schedule(user_id, float(due))
    log.info("rebuilt watermarks for partitions %s, %d users scheduled",
             sorted(watermarks), sum(len(s) for s in schedules.values()))


async def dead_letter(src: Source, value: bytes, ack: Ack | None, reason: str,
                      detail: str) -> None:
    """Publish the original message with why and where it came from; ack it in turn."""
    stats["dead_letters"] += 1
    log.info("dead letter %s[%s]@%s: %s %s", src.topic, src.partition, src.offset, reason, detail)
    await dead_letters_topic.send(
        key=src.key,
        value=DeadLetter.of(reason=reason, detail=detail, topic=src.topic,
                            partition=src.partition, offset=src.offset, key=src.key,
                            value=value),
    )
    await ack_in_order(ack)


async def ack_in_order(ack: Ack | None) -> None:
    """Ack a message that writes no rows once every message before it is acked.

    Acks go through the sink so they stay in partition order: Faust commits up to the first
    unacked offset but lets one unacked offset at the head slip through (faust-streaming
    issue #606), so acking a dead letter before an earlier event's rows were written could
    commit past that event and lose it in a crash.
    """
    await sink.put((), ack)


# A re-scored silent user's row is rewritten only when its risk moved at least this much
# (or a segment changed): the database stays current without a write per tick.
RISK_STEP = 0.005


async def publish(user_id: str, out: Emits, rows: list[tuple[Upsert, Row]],
                  training: list[dict[str, Any]]) -> None:
    """Send one step's outputs to their topics, queue their rows and training examples."""
    key = user_id.encode()
    training.extend(out.training)
    for change in out.changes:
        await segment_changes_topic.send(key=key, value=change)
        rows.extend(change_rows(change))
    for alert in out.alerts:
        rows.append((ALERTS, alert_row(alert)))
        if not alert["control"]:  # the holdout group is recorded, never contacted
            await churn_alerts_topic.send(key=key, value=alert)
    for outcome in out.outcomes:
        rows.append((OUTCOMES, outcome_row(outcome)))
        await winback_outcomes_topic.send(key=key, value=outcome)


def keep(user_id: str, state: UserState, partition: int, out: Emits,
         states: dict[str, tuple[int, Any]]) -> None:
    """Record the new state in memory and schedule the user's next look."""
    state.ext["p"] = partition
    schedule = schedules.setdefault(partition, DueSchedule())
    if out.due is None:
        schedule.unschedule(user_id)
    else:
        schedule.schedule(user_id, out.due)
    value = state.to_dict()
    profiles_for_user.data[user_id] = value  # changelog after the database write (sink)
    states[user_id] = (partition, value)


async def reassess(users: list[str], partition: int, watermark: float,
                   rows: list[tuple[Upsert, Row]], states: dict[str, tuple[int, Any]],
                   training: list[dict[str, Any]]) -> None:
    """Re-assess (silent) users at the watermark: labels, risk, alerts, segments."""
    bundle, config = models.current, settings.engine
    for user_id in users:
        raw = profiles_for_user.get(user_id)
        if raw is None:
            continue
        stats["ticks"] += 1
        state = UserState.from_dict(raw)
        risk_before, segments_before = state.churn_risk, dict(state.segments)
        out = on_tick(user_id, state, watermark=watermark, models=bundle, config=config)
        keep(user_id, state, partition, out, states)
        await publish(user_id, out, rows, training)
        moved = abs((state.churn_risk or 0.0) - (risk_before or 0.0)) >= RISK_STEP
        if moved or state.segments != segments_before or risk_before is None:
            rows.append((PROFILES, profile_row(user_id, state)))


async def catch_up(partition: int, watermark: float, rows: list[tuple[Upsert, Row]],
                   states: dict[str, tuple[int, Any]], training: list[dict[str, Any]]) -> int:
    """Re-assess every user due by ``watermark``, each at its due time, until none is left."""
    schedule = schedules.setdefault(partition, DueSchedule())
    count = 0
    while due := schedule.pop_due(watermark):
        await reassess(due, partition, watermark, rows, states, training)
        count += len(due)
    return count


def is_tick(headers: Any) -> bool:
    """True for an operator tick (a ``user-events`` message with the tick header)."""
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(key == TICK_HEADER for key, _ in items)


async def tick(src: Source, value: bytes, ack: Ack | None) -> None:
    """An operator tick for one partition: ``{"at": epoch s | null, "all": bool}``.

    Moves the partition's watermark to ``at`` (never backwards) and re-assesses the users due
    by then, or every user of the partition with ``all`` (after a model or policy change, or
    to read everyone's risk at one instant).
    """
    partition = src.partition
    refusal = tick_refusal(value, src.headers)
    if refusal is not None:  # with a signing key: unsigned or forged, never applied
        await dead_letter(src, value, ack, "bad_signature", f"tick {refusal.reason}")
        return
    try:
        order = orjson.loads(value)
        at = order.get("at")
        watermark = max(watermarks.get(partition, 0.0), float(at) if at is not None else 0.0)
        everyone = bool(order.get("all"))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        await dead_letter(src, value, ack, "bad_tick", str(exc)[:200])
        return
    watermarks[partition] = watermark
    rows: list[tuple[Upsert, Row]] = []
    states: dict[str, tuple[int, Any]] = {}
    training: list[dict[str, Any]] = []
    count = await catch_up(partition, watermark, rows, states, training)
    if everyone:
        users = [u for u, raw in profiles_for_user.items()
                 if (raw or {}).get("ext", {}).get("p") == partition]
        await reassess(users, partition, watermark, rows, states, training)
        count += len(users)
    log.info("tick %s[%s]: watermark %s, %d users re-assessed", src.topic, partition,
             watermark, count)
    await sink.put(rows, ack, states, outbox=training)  # training: sent once per flush


async def ingest(src: Source, value: bytes, ack: Ack | None) -> None:
    """Validate one message, apply it, and re-assess users the watermark made due."""
    if is_tick(src.headers):
        await tick(src, value, ack)
        return
    parsed = parse_event(value, now=time.time(), max_future_skew_s=settings.max_future_skew_s)
    if isinstance(parsed, Rejection):
        await dead_letter(src, value, ack, parsed.reason, parsed.detail)
        return
    user_id, partition = parsed.user_id, src.partition
    if src.key != user_id.encode():
        # Tables are sharded by user id: an event keyed otherwise is re-published with the
        # right key and counted when it arrives on the user's partition.
        stats["rekeyed"] += 1
        await user_events_topic.send(key=user_id.encode(), value=value)
        await ack_in_order(ack)
        return
    bundle, config = models.current, settings.engine
    watermark = max(watermarks.get(partition, parsed.ts), parsed.ts)
    state = UserState.from_dict(profiles_for_user.get(user_id))
    out = on_event(user_id, state, parsed, watermark=watermark, models=bundle, config=config,
                   offset=src.offset)
    rows: list[tuple[Upsert, Row]] = []
    states: dict[str, tuple[int, Any]] = {}
    training: list[dict[str, Any]] = []
    if out.applied:
        stats["valid"] += 1
        watermarks[partition] = watermark
        keep(user_id, state, partition, out, states)
        await publish(user_id, out, rows, training)
    else:
        # Rewrite the row anyway: it is idempotent, and cheap next to a lost update.
        stats["duplicate"] += 1
    rows.append((PROFILES, profile_row(user_id, state)))
    await catch_up(partition, watermark, rows, states, training)
    await sink.put(rows, ack, states, outbox=training)  # training: sent once per flush


async def handle(src: Source, value: bytes, ack: Ack | None) -> None:
    """Process one message (never raises on input), then move its partition's mark."""
    try:
        await ingest(src, value, ack)
    except Exception as exc:  # never crash on input: keep it replayable instead
        log.exception("failed %s[%s]@%s", src.topic, src.partition, src.offset)
        await dead_letter(src, value, ack, "processing_error", f"{type(exc).__name__}: {exc}"[:200])
    key, mark = mark_key(src.partition), marks.advance(src.partition, src.offset)
    profiles_for_user.data[key] = mark
    sink.mark(key, src.partition, mark)  # reaches the changelog with (or after) the states


async def fill_gap(src: Source) -> None:
    """Apply, in order, what the consumer skipped between the partition's mark and ``src``."""
    gap = marks.gap(src.partition, src.offset)
    if gap is None:
        return
    start, end = gap
    log.warning("%s[%s]: the stream jumped from %s to %s; reading the %d messages between "
                "from the broker", src.topic, src.partition, start, end, end - start)
    missed = await until_done(f"reading {src.topic}[{src.partition}] {start}..{end}", lambda: (
        read_range(settings.bootstrap, src.topic, src.partition, start, end)))
    for m in missed:
        stats["refetched"] += 1
        await handle(Source(m.topic, m.partition, m.offset, m.key, m.headers), m.value, None)


@app.agent(user_events_topic)
async def track_user_profiles(stream: StreamT[bytes]) -> None:
    """Consume raw ``user-events`` messages (and ticks), one at a time in partition order."""
    # noack(): a message is acked by the sink once its rows are written (at-least-once).
    async for event in stream.noack().events():  # type: ignore[attr-defined]  # Stream API
        msg = event.message
        src = Source(msg.topic, msg.partition, msg.offset, msg.key, msg.headers)
        if _assignment["ready"] != _assignment["seen"]:
            await prepare()
        await fill_gap(src)
        # Skipped offsets are applied now: let Faust commit past them.
        await release_skipped(app.consumer, TP(src.topic, src.partition),
                              _delivered.get(src.partition), src.offset)
        _delivered[src.partition] = src.offset
        await handle(src, event.value, event.ack)


@app.timer(interval=30.0)
async def log_progress() -> None:
    """A progress line for operators: counts since start, watermarks, sink state."""
    log.info("ingest %s; watermarks %s; sink rows %d, pending %d, failures %d", stats,
             {p: int(w) for p, w in sorted(watermarks.items())}, sink.rows_written,
             sink.pending, sink.failures)
