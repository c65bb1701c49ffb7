"""Validate every ``user-events`` message, keep each user's live profile, score and segment.

Take a message (one event, or a collector batch of one user's events), validate it, run the
lifecycle step of online_models.engine on a copy of the user's state once for the message
(held decoded for recently active users, streams/runtime/hot_states.py), publish the
effects. Bad input goes to ``user-events-dlq`` with its reason and origin (a bad event of a
batch alone, with its index; the others are applied). A valid message advances its
partition's watermark and re-assesses the silent users whose due time the watermark passed;
an operator tick does the same without an event. Outputs are sent before the new state is
kept, and the message is acked once the sink wrote its rows (streams/runtime/effects.py).
What the consumer skipped is applied first and every message moves its partition's mark
(streams/runtime/intake.py). The per-partition runtime state lives
in one :class:`WorkerState` (streams/runtime/worker_state.py), rebuilt on every assignment.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from faust import StreamT

import streams.runtime.clock  # noqa: F401  # registers the live wall-clock tick (if enabled)
from online_models.contract import Batch, Event, Rejection, parse_message
from online_models.engine import RISK_STEP, on_events, on_tick
from online_models.profile import UserState, placement
from streams.app import app
from streams.privacy.erasure import expired
from streams.privacy.pseudonyms import pseudonymise
from streams.runtime import intake
from streams.runtime.channels import user_events_topic
from streams.runtime.effects import (
    Effects,
    Source,
    ack_in_order,
    dead_letter,
    rekey,
    rekey_batch,
    send_dead_letter,
)
from streams.runtime.erasure import locks, request_expiry, unerased
from streams.runtime.model_follower import models
from streams.runtime.outputs import PROFILES, profile_row, sink
from streams.runtime.tables import hot_profiles, profiles_for_user
from streams.runtime.trust import tick_refusal
from streams.runtime.worker_state import PartitionState, WorkerState
from streams.settings import settings
from streams.storage.database_sink import Ack
from streams.topics import TICK_HEADER

log = logging.getLogger(__name__)

# This worker's runtime state; tests give each test a fresh one.
worker = WorkerState(max_future_skew_s=settings.max_future_skew_s)

# A re-scored silent user's row is rewritten only when its risk moved at least RISK_STEP (or
# a segment changed): the database stays current without a write per tick.


@app.on_partitions_assigned.connect  # type: ignore[arg-type]  # mode's stub wants sync
async def forget_partitions(sender: Any, *args: Any, **kwargs: Any) -> None:
    """Partitions moved: complete the table and rebuild the partitions before the next event."""
    worker.assigned()
    hot_profiles.clear()  # again before the first message (intake.prepare)


async def reassess(users: list[str], part: PartitionState, watermark: float,
                   effects: Effects) -> int:
    """Re-assess (silent) users at the watermark: labels, risk, alerts, segments."""
    bundle, config, count = models.current, settings.engine, 0
    for user_id in users:
        raw = profiles_for_user.data.get(user_id)
        if raw is None:
            continue
        state = hot_profiles.take(user_id, raw)  # a copy: kept once its outputs are sent
        if expired(state.last_seen, watermark, settings.user_ttl_days):  # erasure hook
            await request_expiry(user_id, part.partition, float(state.last_seen or 0.0))
            continue
        count += 1
        risk_before, segments_before = state.churn_risk, dict(state.segments)
        out = on_tick(user_id, state, watermark=watermark, models=bundle, config=config)
        effects.step(user_id, state, out)
        moved = abs((state.churn_risk or 0.0) - (risk_before or 0.0)) >= RISK_STEP
        if moved or state.segments != segments_before or risk_before is None:
            effects.row(PROFILES, profile_row(user_id, state))
        if effects.full:
            await effects.publish_chunk()  # bounded rows per sink call; the ack comes last
    worker.stats["ticks"] += count
    return count


async def catch_up(part: PartitionState, watermark: float, effects: Effects) -> int:
    """Re-assess every user due by ``watermark``, each at its due time, until none is left."""
    count = 0
    while due := part.schedule.pop_due(watermark):
        count += await reassess(due, part, watermark, effects)
        await effects.settle()  # their next due times are in the schedule now
    return count


def is_tick(headers: Any) -> bool:
    """True for an operator tick (a ``user-events`` message with the tick header)."""
    if not headers:
        return False
    items = headers.items() if isinstance(headers, dict) else headers
    return any(key == TICK_HEADER for key, _ in items)


async def tick(src: Source, value: bytes, ack: Ack | None) -> None:
    """An operator tick for one partition: ``{"at": epoch s | null, "all": bool}``.

    Moves the partition's watermark to ``at`` (never backwards, never past wall-clock now plus
    the allowed skew) and re-assesses the users due by then, or every user of the partition
    with ``all`` (after a model or policy change, or to read everyone's risk at one instant).
    """
    refusal = tick_refusal(value, src.headers)
    if refusal is not None:  # with a signing key: unsigned or forged, never applied
        await dead_letter(worker, src, value, ack, "bad_signature", f"tick {refusal.reason}")
        return
    try:
        order = orjson.loads(value)
        at = None if order.get("at") is None else float(order["at"])
        everyone = bool(order.get("all"))
    except (orjson.JSONDecodeError, AttributeError, TypeError, ValueError) as exc:
        await dead_letter(worker, src, value, ack, "bad_tick", str(exc)[:200])
        return
    part = worker[src.partition]
    watermark = worker.tick_time(src.partition, at)
    effects = Effects(part)
    count = await catch_up(part, watermark, effects)
    if everyone:
        users = [u for u, raw in profiles_for_user.items()
                 if placement(raw).partition == src.partition]
        count += await reassess(users, part, watermark, effects)
    log.info("tick %s[%s]: watermark %s, %d users re-assessed", src.topic, src.partition,
             watermark, count)
    await effects.publish(ack)


async def ingest(src: Source, value: bytes, ack: Ack | None) -> None:
    """Validate one message (one event or a batch), apply it, re-assess users now due."""
    if is_tick(src.headers):
        await tick(src, value, ack)
        return
    parsed = parse_message(value, now=worker.now(), max_future_skew_s=settings.max_future_skew_s,
                           max_batch_events=settings.max_batch_events)
    if isinstance(parsed, Rejection):
        await dead_letter(worker, src, value, ack, parsed.reason, parsed.detail)
        return
    if isinstance(parsed, Batch):
        await ingest_batch(src, parsed, ack)
        return
    if src.key != parsed.user_id.encode():
        await rekey(worker, parsed.user_id, value, ack)
        return
    await apply(src, [parsed], ack)


async def ingest_batch(src: Source, batch: Batch, ack: Ack | None) -> None:
    """A collector batch: refused events to the dead letters one by one (with their index),
    other users' events re-published to their own partitions, the key's user's applied."""
    size = len(batch.items)
    for index, refused in batch.rejected:
        await send_dead_letter(worker, src, item_bytes(batch.raw[index]), refused.reason,
                               f"event {index} of {size}: {refused.detail}"[:200], index=index)
    mine: list[Event] = []
    others: dict[str, list[object]] = {}
    for index, event in batch.events:
        if src.key == event.user_id.encode():
            mine.append(event)
        else:  # tables are sharded by user: the owner of its partition applies it
            others.setdefault(event.user_id, []).append(batch.raw[index])
    for user_id, raw in others.items():
        await rekey_batch(worker, user_id, item_bytes(raw if len(raw) > 1 else raw[0]),
                          len(raw))
    if mine:
        await apply(src, mine, ack)
    else:
        await ack_in_order(ack)


def item_bytes(raw: object) -> bytes:
    """An item of a batch as JSON bytes (what is dead-lettered or re-published alone)."""
    try:
        return orjson.dumps(raw)
    except TypeError:  # not representable alone (never from decoded JSON): keep a marker
        return repr(raw).encode("utf-8", "replace")


async def apply(src: Source, events: list[Event], ack: Ack | None) -> None:
    """Apply one message's valid events of its key's user: one state load, one assessment
    (if called for), one row and one state kept for the whole message."""
    # Privacy hooks (streams/privacy): pseudonyms from here on; erased events never return.
    if settings.pseudonym_key is not None:
        events = [pseudonymise(settings.pseudonym_key, e) for e in events]
    user_id, part = events[0].user_id, worker[src.partition]
    events = unerased(user_id, events)
    if not events:
        await ack_in_order(ack)
        return
    watermark = worker.event_time(src.partition, max(e.ts for e in events))
    # A copy, kept after the sends: held decoded if the user was recently active (then the
    # table's value is not read).
    raw = None if user_id in hot_profiles else profiles_for_user.data.get(user_id)
    state = hot_profiles.take(user_id, raw)
    out = on_events(user_id, state, events, models=models.current, config=settings.engine,
                    offset=src.offset)
    effects = Effects(part)
    worker.stats["duplicate"] += out.duplicates
    if out.applied:
        worker.stats["valid"] += len(events) - out.duplicates
        effects.step(user_id, state, out)
        if out.evicted:
            note_evicted(user_id, state, out.evicted)
    # The row is rewritten anyway (also for a duplicate): it is idempotent, and cheap next to
    # a lost update.
    effects.row(PROFILES, profile_row(user_id, state))
    await effects.settle()
    if out.applied:
        part.watermark = watermark
    await catch_up(part, watermark, effects)
    await effects.publish(ack)


def note_evicted(user_id: str, state: UserState, evicted: int) -> None:
    """Count ids the dedupe cap forgot inside the window; log a user's first and every 1000th."""
    worker.stats["dedupe_evicted"] += evicted
    total = state.seen_evicted
    if total == evicted or total // 1000 != (total - evicted) // 1000:
        log.warning("dedupe: user %r is past %s ids in %s h; %d ids forgotten inside the window "
                    "(copies of them would count again; LIFELINE_DEDUP_MAX_IDS)", user_id,
                    settings.profile.dedup_max_ids, settings.profile.dedup_hours, total)


@locks.serial  # erasure hook: a partition's erasures wait for its message in progress
async def handle(src: Source, value: bytes, ack: Ack | None) -> None:
    """Process one message (never raises on input), then move its partition's mark."""
    try:
        await ingest(src, value, ack)
    except Exception as exc:  # never crash on input: keep it replayable instead
        log.exception("failed %s[%s]@%s", src.topic, src.partition, src.offset)
        await dead_letter(worker, src, value, ack, "processing_error",
                          f"{type(exc).__name__}: {exc}"[:200])
    intake.applied(worker, src)


@app.agent(user_events_topic)
async def track_user_profiles(stream: StreamT[bytes]) -> None:
    """Consume raw ``user-events`` messages (and ticks), one at a time in partition order."""
    # noack(): a message is acked by the sink once its rows are written (at-least-once).
    async for event in stream.noack().events():  # type: ignore[attr-defined]  # Stream API
        msg = event.message
        src = Source(msg.topic, msg.partition, msg.offset, msg.key, msg.headers)
        await intake.before(worker, src, handle)
        await handle(src, event.value, event.ack)


@app.timer(interval=30.0)
async def log_progress() -> None:
    """A progress line for operators: counts since start, watermarks, sink and hot states."""
    log.info("ingest %s; watermarks %s; sink rows %d, pending %d, failures %d; hot states %d "
             "(hits %d, misses %d, evicted %d)", worker.stats,
             {p: int(w) for p, w in worker.watermarks().items()}, sink.rows_written,
             sink.pending, sink.failures, len(hot_profiles), hot_profiles.hits,
             hot_profiles.misses, hot_profiles.evicted)
