"""Erase users on request: ``user-erasures`` in, ``erasure-receipts`` out.

Requests come from ``python -m streams forget USER_ID...``, from any system that produces
them (key = the user id, as on ``user-events``), and from the workers' own expiry of users
inactive longer than ``LIFELINE_USER_TTL_DAYS``. ``user-erasures`` has as many partitions as
``user-events``, so each request reaches the worker that owns the user's state; the work is
done by streams/runtime/erasure.py under the partition's lock, once the ingest agent has
prepared its table for the current assignment.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from faust import StreamT

# The ingest agent's worker state (its table readiness and due schedules), read at call time.
import agents.track_user_profiles as ingest
from online_models.profile import placement
from streams.app import app
from streams.privacy.erasure import ErasureRequest, parse_request
from streams.privacy.pseudonyms import pseudonym
from streams.runtime.channels import (
    erasure_receipts_topic,
    user_erasures_topic,
    user_events_topic,
)
from streams.runtime.erasure import erase, locks, stats
from streams.runtime.tables import profiles_for_user
from streams.settings import settings
from streams.topics import tick_headers, tick_value

log = logging.getLogger(__name__)


def unschedule(partition: int, user_key: str) -> bool:
    """Remove a user from its partition's due schedule (True if it was scheduled)."""
    part = ingest.worker.partitions.get(partition)
    return part is not None and part.schedule.unschedule(user_key)


async def until_table_ready(partition: int) -> None:
    """Wait until the ingest agent completed the table of this assignment.

    It does so before its first message; a tick that moves nothing (``at`` null, due users
    only) wakes a partition without traffic.
    """
    waited = 0
    while ingest.worker.stale:
        if waited % 20 == 0:
            wake = tick_value(None, everyone=False)  # signed like every tick with a key
            await user_events_topic.send(value=wake, partition=partition,
                                         headers=tick_headers(wake, settings.signing_key))
        waited += 1
        await asyncio.sleep(0.5)


def still_expired(request: ErasureRequest, user_key: str) -> bool:
    """An expiry request still holds: the user has no event newer than it covers."""
    last = placement(profiles_for_user.data.get(user_key)).last_seen
    return last is not None and last <= request.at


@app.agent(user_erasures_topic)
async def erase_users(stream: StreamT[bytes]) -> None:
    """Erase each requested user on the worker that owns it, then publish a receipt."""
    async for event in stream.events():
        msg = event.message
        request = parse_request(event.value, now=time.time())
        if isinstance(request, str):
            log.warning("erasure request %s[%s]@%s refused: %s", msg.topic, msg.partition,
                        msg.offset, request)
            continue
        key = settings.pseudonym_key
        user_key = (request.user_id if request.internal or key is None
                    else pseudonym(key, request.user_id))
        await until_table_ready(msg.partition)
        async with locks(msg.partition):
            if request.reason == "ttl" and not still_expired(request, user_key):
                log.info("expiry request %s[%s]@%s dropped: the user came back", msg.topic,
                         msg.partition, msg.offset)
                continue
            done: dict[str, Any] = await erase(request, user_key, msg.partition,
                                               unschedule=unschedule)
        await erasure_receipts_topic.send(key=user_key.encode(), value=done)


@app.timer(interval=60.0)
async def log_erasures() -> None:
    """Erasures done and erased users' events dropped since start (when there were any)."""
    if any(stats.values()):
        log.info("erasure %s", stats)
