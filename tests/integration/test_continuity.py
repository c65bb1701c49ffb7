"""A committed offset past events nobody applied: the restarted worker applies them anyway.

Faust can start a partition's stream past its committed offset and commit past the skipped
messages (streams/runtime/continuity.py). This test creates that situation on purpose: a
worker takes over a state whose marks stand before a batch of events no worker has seen, with
committed offsets past that batch; it must read the batch from the broker (it logs the jump),
and every total must be exact.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from streams.data.datasets import synthetic_events
from streams.runtime.continuity import read_range
from streams.runtime.offsets import log_ends, stop_quietly
from tests.integration.helpers import Worker, expected_totals, publish, wait_for_exact_totals

pytestmark = pytest.mark.integration


async def topic_log_ends(bootstrap: str, topic: str,
                         partitions: int) -> dict[TopicPartition, int]:
    """:func:`log_ends` of every partition of ``topic``, with a consumer of its own."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        return await log_ends(consumer, tps)
    finally:
        await stop_quietly(consumer)


async def _copy_topic(bootstrap: str, src: str, dst: str, partitions: int) -> int:
    """Copy every record of ``src`` into a new topic ``dst``, partition by partition."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(dst, partitions, 1)])
    finally:
        admin.close()
    writer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20)
    await writer.start()
    copied = 0
    try:
        for tp, end in (await topic_log_ends(bootstrap, src, partitions)).items():
            records = await read_range(bootstrap, src, tp.partition, 0, end)
            sent = [await writer.send(dst, m.value, key=m.key, partition=tp.partition)
                    for m in records]
            await asyncio.gather(*sent)
            copied += len(sent)
    finally:
        await writer.stop()
    return copied


async def _commit_log_ends(bootstrap: str, group: str, topic: str, partitions: int) -> None:
    """Commit a fresh group's offsets of ``topic`` at the end of each partition's log."""
    ends = await topic_log_ends(bootstrap, topic, partitions)
    committer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group,
                                 enable_auto_commit=False)
    await committer.start()
    try:
        committer.assign(list(ends))
        await committer.commit(dict(ends))
    finally:
        await committer.stop()


def test_continuity__events_behind_a_skipped_commit_are_applied(
    lifeline: dict[str, Any],
) -> None:
    settings = lifeline["settings"]
    source, url = settings.topic("user-events"), settings.database_url
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    events = list(itertools.islice(synthetic_events(users=80, days=20, seed=4), 3000))
    phases = events[:1000], events[1000:2000], events[2000:]

    def send(batch: list[dict[str, Any]]) -> None:
        publish(producer, source, [(e["user_id"].encode(), orjson.dumps(e)) for e in batch])

    send(phases[0])
    first = lifeline["worker"]()
    wait_for_exact_totals(url, expected_totals(phases[0]), timeout=120)
    first.stop()
    send(phases[1])
    # A second deployment takes over the first one's state (its changelog, marks included)
    # with a consumer group whose committed offsets are past the second batch: exactly what
    # a consumer that skipped the batch and committed past it leaves behind.
    group = f"{settings.app_id}-b"
    copied = asyncio.run(_copy_topic(
        settings.bootstrap, f"{settings.app_id}-profiles_for_user-changelog",
        f"{group}-profiles_for_user-changelog", settings.partitions))
    assert copied > 0
    asyncio.run(_commit_log_ends(settings.bootstrap, group, source, settings.partitions))
    send(phases[2])
    second = Worker({**lifeline["env"], "LIFELINE_APP_ID": group},
                    lifeline["logs"] / "worker-b.log").start()
    try:
        wait_for_exact_totals(url, expected_totals(events), timeout=180,
                              context="the second batch was not applied")
    finally:
        second.stop()
    # Not a synchronisation point (the totals above are): the worker's report of the jump is
    # itself the behaviour under test, proof that the totals came through the gap filler.
    log = second.log.read_text(errors="replace")
    assert "the stream jumped from" in log, "the gap filler did not run"
    producer.close()
