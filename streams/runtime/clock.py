"""Live mode: a wall-clock tick that moves every partition's watermark forward.

Lifeline runs in event time: a partition's watermark moves with the events on it. In live
operation a partition whose users all went quiet would stand still, and so would their
at-risk / churned transitions and alerts. With ``LIFELINE_LIVE_TICK_SECONDS`` > 0 the leader
worker sends a tick (``{"at": now, "all": false}``, header ``lifeline-tick``) to every
partition of ``user-events`` that often; each reaches the worker owning the partition, which
moves the watermark to ``at`` (never backwards) and re-assesses the users due by then.
Off by default: replaying history must not jump the clock to today.
"""

from __future__ import annotations

import logging
import time

from streams.app import app
from streams.runtime.channels import user_events_topic
from streams.settings import settings
from streams.topics import tick_headers, tick_value

log = logging.getLogger(__name__)


async def send_wall_clock_ticks(now: float | None = None) -> int:
    """Send one tick at ``now`` (default: the wall clock) to every source partition."""
    value = tick_value(time.time() if now is None else now, everyone=False)
    for partition in range(settings.partitions):
        await user_events_topic.send(value=value, partition=partition,
                                     headers=tick_headers(value, settings.signing_key))
    return settings.partitions


if settings.live_tick_seconds > 0:

    @app.timer(interval=settings.live_tick_seconds, on_leader=True)
    async def tick_idle_partitions() -> None:
        """Leader only: advance every partition's watermark to the wall clock."""
        sent = await send_wall_clock_ticks()
        log.debug("live tick sent to %d partitions", sent)
