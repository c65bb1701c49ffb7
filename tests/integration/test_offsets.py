"""Log ends on the real test broker: right even where its listed end is not."""

from __future__ import annotations

import asyncio

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition

from streams.runtime.offsets import log_ends, log_ends_sync
from tests.integration.helpers import new_topic

pytestmark = pytest.mark.integration


def test_log_ends__count_every_record_of_the_last_batch(broker: str) -> None:
    bootstrap = broker.removeprefix("kafka://")
    topic = new_topic(bootstrap, "ends", 3)

    async def run() -> tuple[dict[TopicPartition, int], dict[TopicPartition, int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=200)
        await producer.start()
        try:  # one batch per partition: 13 records to partition 0, 12 to partition 1
            sent = [await producer.send(topic, b"x", partition=i % 2) for i in range(25)]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                    enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(topic, p) for p in range(3)]
            consumer.assign(tps)
            return await consumer.end_offsets(tps), await log_ends(consumer, tps)
        finally:
            await consumer.stop()

    listed, ends = asyncio.run(run())
    assert [ends[TopicPartition(topic, p)] for p in range(3)] == [13, 12, 0]
    # The broker's listed end is only checked to stay <= the true one (Kafka lists it right).
    assert all(listed[tp] <= ends[tp] for tp in ends)
    sync = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        got = log_ends_sync(sync, [KafkaTopicPartition(topic, p) for p in range(3)])
    finally:
        sync.close()
    assert [got[KafkaTopicPartition(topic, p)] for p in range(3)] == [13, 12, 0]


def test_read_range__returns_exactly_the_requested_offsets_in_order(broker: str) -> None:
    from streams.runtime.continuity import read_chunks, read_range

    bootstrap = broker.removeprefix("kafka://")
    topic = new_topic(bootstrap, "range", 2)

    async def run() -> tuple[list[int], list[bytes], list[int]]:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
        await producer.start()
        try:
            sent = [await producer.send(topic, b"v%d" % i, key=b"k", partition=1,
                                        headers=[("h", b"%d" % i)]) for i in range(40)]
            await asyncio.gather(*sent)
        finally:
            await producer.stop()
        got = await read_range(bootstrap, topic, 1, 7, 31)
        empty = await read_range(bootstrap, topic, 0, 0, 0)
        sizes = [len(c) async for c in read_chunks(bootstrap, topic, 1, 7, 31, chunk=10)]
        return [m.offset for m in got], [m.value for m in got[:2]], [len(empty), *sizes]

    offsets, values, sizes = asyncio.run(run())
    assert offsets == list(range(7, 31))
    assert values == [b"v7", b"v8"] and sizes == [0, 10, 10, 4]
