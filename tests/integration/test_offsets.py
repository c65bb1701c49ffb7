"""Log ends on the real test broker: right even where its listed end is not."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from kafka import KafkaConsumer
from kafka import TopicPartition as KafkaTopicPartition
from kafka.admin import KafkaAdminClient, NewTopic

from streams.offsets import log_ends, log_ends_sync

pytestmark = pytest.mark.integration


def test_log_ends__count_every_record_of_the_last_batch(broker: str) -> None:
    bootstrap = broker.removeprefix("kafka://")
    topic = f"ends-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 3, 1)])
    admin.close()

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
