"""The worker's agent run in this process, without Faust's consumer or a broker.

Shared by ``bench.worker_path`` (CPU per message) and ``bench.worker_memory`` (RSS per user).
Nothing of the project is imported at module level: a harness that runs another checkout's
code (``--root``) puts that checkout on ``sys.path`` before the first call.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from contextlib import ExitStack
from typing import Any
from unittest.mock import patch

PARTITIONS = 4
CHANNELS = ("training_topic", "segment_changes_topic", "churn_alerts_topic",
            "winback_outcomes_topic", "dead_letters_topic", "user_events_topic")


async def sent(*args: Any, **kwargs: Any) -> None:
    """A send the broker accepts at once."""


def ready_app(stack: ExitStack) -> None:
    """Finalize the app as a worker would, score with the blank bundle (as a worker before
    its first model) and make every output send a no-op (undone when ``stack`` closes)."""
    from streams.app import app
    from streams.runtime import channels
    from streams.runtime.model_follower import models

    app.finalize()
    app.flow_control.resume()
    models.synced.set()
    for name in CHANNELS:
        stack.enter_context(patch.object(getattr(channels, name), "send", sent))


async def handle_in_order(messages: list[tuple[bytes, bytes]],
                          each: Callable[[int], None] | None = None) -> None:
    """Hand ``messages`` (key, value) to the agent's ``handle`` one by one, each on partition
    ``crc32(key) % PARTITIONS`` at the next offset of that partition; ``each(i)`` after the
    i-th (from 1)."""
    import agents.track_user_profiles as agent
    from streams.runtime.effects import Source

    offsets = [0] * PARTITIONS
    for i, (key, value) in enumerate(messages, 1):
        partition = zlib.crc32(key) % PARTITIONS
        await agent.handle(Source("user-events", partition, offsets[partition], key), value,
                           None)
        offsets[partition] += 1
        if each is not None:
            each(i)
