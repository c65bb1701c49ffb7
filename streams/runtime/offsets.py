"""Where a partition's log ends, asked in a way every Kafka-protocol broker answers right.

Kafka answers ``ListOffsets(latest)`` with the log end (last offset + 1). Tansu 0.6 (memory
storage, the broker of the tests and the demo) answers with the base offset of the partition's
last record batch + 1, so a reader that stops there misses the rest of that batch: Faust's
table recovery did, and a restarted worker lost the newest states of a few users. The high
watermark in a fetch response is right on both, so these helpers fetch once from just below
the listed end and take the end from that response.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

log = logging.getLogger(__name__)


async def log_ends(consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition],
                   timeout: float = 10.0) -> dict[TopicPartition, int]:
    """The log end of each of ``tps`` (assigned to ``consumer``); leaves positions moved.

    ``consumer`` must have no group (or not be committing): it seeks each partition to its
    listed end - 1 and fetches until the response carries the high watermark.
    """
    listed = await consumer.end_offsets(list(tps))
    ends: dict[TopicPartition, int] = {}
    waiting = []
    for tp in tps:
        if listed[tp] <= 0:
            ends[tp] = 0  # empty: both kinds of broker agree
        else:
            consumer.seek(tp, listed[tp] - 1)
            waiting.append(tp)
    deadline = time.monotonic() + timeout
    while waiting:
        await consumer.getmany(*waiting, timeout_ms=200)
        _take_highwaters(consumer, waiting, listed, ends, deadline, timeout)
    return ends


async def stop_quietly(consumer: AIOKafkaConsumer) -> None:
    """Stop a group-less consumer; aiokafka 0.14 can raise ``CancelledError`` from its own
    coordinator task when the consumer stops right after an assignment (not ours: ignored)."""
    try:
        await consumer.stop()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise  # this task itself is being cancelled
        log.debug("consumer stop: aiokafka cancelled its own coordinator task")


def log_ends_sync(consumer: Any, tps: Sequence[Any], timeout: float = 10.0) -> dict[Any, int]:
    """:func:`log_ends` for a kafka-python ``KafkaConsumer`` (assigns ``tps`` to it)."""
    listed = consumer.end_offsets(list(tps))
    ends: dict[Any, int] = {tp: 0 for tp in tps if listed[tp] <= 0}
    waiting = [tp for tp in tps if listed[tp] > 0]
    consumer.assign(waiting)
    for tp in waiting:
        consumer.seek(tp, listed[tp] - 1)
    deadline = time.monotonic() + timeout
    while waiting:
        consumer.poll(timeout_ms=200)
        _take_highwaters(consumer, waiting, listed, ends, deadline, timeout)
    return ends


def _take_highwaters(consumer: Any, waiting: list[Any], listed: Mapping[Any, int],
                     ends: dict[Any, int], deadline: float, timeout: float) -> None:
    """After a fetch: move every partition whose high watermark is known from ``waiting``
    to ``ends``; raise once ``deadline`` passed with some still waiting."""
    for tp in list(waiting):
        high = consumer.highwater(tp)
        if high is not None:
            ends[tp] = max(high, listed[tp])
            waiting.remove(tp)
    if waiting and time.monotonic() > deadline:
        raise TimeoutError(f"no high watermark for {waiting} after {timeout:.0f}s")
