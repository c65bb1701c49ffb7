"""Validate every ``user-events`` message and keep each user's live profile.

Bad input goes to ``user-events-dlq`` with its reason and origin; valid events update the
user's state in ``profiles_for_user`` and the ``user_profiles`` row. A message is acked only
once its effect is durable (dead letter published, or profile row written by the sink).
"""

from __future__ import annotations

import logging
import time

from faust import EventT, StreamT

from online_models.contract import Rejection, parse_event
from online_models.profile import UserState, apply_event
from streams.app import app
from streams.records import DeadLetter
from streams.settings import settings
from streams.sinks import PROFILES, profile_row, sink
from streams.tables import profiles_for_user
from streams.topics import dead_letters_topic, user_events_topic

log = logging.getLogger(__name__)

stats = {"valid": 0, "duplicate": 0, "dead_letters": 0, "rekeyed": 0}


async def dead_letter(event: EventT, reason: str, detail: str) -> None:
    """Publish the original message with why and where it came from, then ack it."""
    msg = event.message
    stats["dead_letters"] += 1
    log.info("dead letter %s[%s]@%s: %s %s", msg.topic, msg.partition, msg.offset, reason, detail)
    await dead_letters_topic.send(
        key=msg.key,
        value=DeadLetter.of(reason=reason, detail=detail, topic=msg.topic,
                            partition=msg.partition, offset=msg.offset, key=msg.key,
                            value=event.value),
    )
    event.ack()


async def ingest(event: EventT) -> None:
    """Validate one message and apply it to its user's profile."""
    msg = event.message
    parsed = parse_event(event.value, now=time.time(),
                         max_future_skew_s=settings.max_future_skew_s)
    if isinstance(parsed, Rejection):
        await dead_letter(event, parsed.reason, parsed.detail)
        return
    key = parsed.user_id.encode()
    if msg.key != key:
        # Tables are sharded by user id: an event keyed otherwise is re-published with the
        # right key and counted when it arrives on the user's partition.
        stats["rekeyed"] += 1
        await user_events_topic.send(key=key, value=event.value)
        event.ack()
        return
    state = UserState.from_dict(profiles_for_user.get(parsed.user_id))
    if apply_event(state, parsed, settings.profile, offset=msg.offset):
        stats["valid"] += 1
        profiles_for_user[parsed.user_id] = state.to_dict()
    else:
        # Rewrite the row anyway: a re-delivery after a crash may carry an effect that
        # reached the table's changelog but not yet the database (the upsert is idempotent).
        stats["duplicate"] += 1
    await sink.put([(PROFILES, profile_row(parsed.user_id, state))], event.ack)


@app.agent(user_events_topic)
async def track_user_profiles(stream: StreamT[bytes]) -> None:
    """Consume raw ``user-events`` messages; one message at a time, in partition order."""
    # noack(): a message is acked by the sink once its row is written (at-least-once).
    async for event in stream.noack().events():  # type: ignore[attr-defined]  # Stream API
        try:
            await ingest(event)
        except Exception as exc:  # never crash on input: keep it replayable instead
            msg = event.message
            log.exception("failed %s[%s]@%s", msg.topic, msg.partition, msg.offset)
            await dead_letter(event, "processing_error", f"{type(exc).__name__}: {exc}"[:200])
