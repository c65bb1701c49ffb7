"""No source message skipped: a per-partition "applied up to" mark and a gap filler.

Faust resumes a worker's source partitions before it seeks them to their committed offsets
(``Recovery.on_recovery_completed``; the same race as faust-streaming issue #216), so after a
restart or a rebalance the stream can start past the committed offset, or jump ahead once.
Faust then books the skipped offsets as a "gap", commits past them, and their events are never
seen again: a worker killed before it had made those events durable loses them.

Lifeline does not rely on the consumer's position. Every processed message moves its
partition's mark (the next offset not yet applied), which travels with the user states: into
the profile table and, at each sink flush, into its changelog, so it recovers with the
partition wherever the partition goes (the worker keeps it in its partition's runtime state,
see worker_state.py and intake.py). Before a message is processed, its offset is compared with
the mark; anything in between is read straight from the broker and processed
first, in order. What was applied already is dropped by the per-user offset and event-id
checks, so the check costs one comparison per message and a replay changes nothing.

A partition without a mark has never had a flush, so nothing of it was committed either: its
processing starts at the group's committed offset if there is one (a deployment that predates
the marks), else at the start of the log (``auto_offset_reset = earliest``), and a stream that
starts later is filled the same way.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from online_models.contract import RESERVED_KEY_PREFIX
from streams.kafka_clients import KafkaSecurity
from streams.runtime.faust_private import add_gap, committed_offset
from streams.runtime.offsets import stop_quietly

log = logging.getLogger(__name__)

T = TypeVar("T")

# Marks share the profile table with users; the contract refuses every user id that holds
# a control character, so no user id starts with RESERVED_KEY_PREFIX ("\x00").
MARK_PREFIX = f"{RESERVED_KEY_PREFIX}lifeline-next-offset:"


def mark_key(partition: int) -> str:
    """The table key of a partition's mark (no valid user id can be one: see the contract).

    >>> mark_key(3)
    '\\x00lifeline-next-offset:3'
    """
    return f"{MARK_PREFIX}{partition}"


def mark_partition(key: Any) -> int | None:
    """The partition whose mark ``key`` is, or None for any other key.

    >>> mark_partition(mark_key(7)), mark_partition("u-42"), mark_partition(MARK_PREFIX + "x")
    (7, None, None)
    """
    if isinstance(key, str) and key.startswith(MARK_PREFIX):
        suffix = key[len(MARK_PREFIX):]
        if suffix.isascii() and suffix.isdigit():  # a forged look-alike must not crash a flush
            return int(suffix)
    return None


async def until_done(what: str, attempt: Callable[[], Awaitable[T]], *,
                     max_backoff: float = 10.0) -> T:
    """Await ``attempt()`` until it succeeds, logging each failure and backing off.

    Nothing may be skipped, so the agent waits for the broker the way the sink waits for the
    database.
    """
    backoff = 0.5
    while True:
        try:
            return await attempt()
        except Exception as exc:
            log.warning("%s failed, retrying in %.1fs: %r", what, backoff, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


async def start_offsets(bootstrap: str, group: str, tps: list[TopicPartition], *,
                        security: KafkaSecurity | None = None) -> dict[TopicPartition, int]:
    """Per partition: the group's committed offset, or else the first offset of the log."""
    options = (security or KafkaSecurity()).client_options()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, **options)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, **options)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        begin = await consumer.beginning_offsets(tps)
    finally:
        await stop_quietly(consumer)
        await admin.close()
    out = {}
    for tp in tps:
        meta = committed.get(tp)
        out[tp] = meta.offset if meta is not None and meta.offset >= 0 else begin[tp]
    return out


async def _read_once(bootstrap: str, topic: str, partition: int, start: int, end: int,
                     chunk: int, timeout: float, security: KafkaSecurity | None
                     ) -> AsyncIterator[tuple[list[ConsumerRecord[bytes, bytes]], int]]:
    """One consumer's pass over ``start..end``: ``(records, next offset)`` per chunk."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, auto_offset_reset="earliest",
                                **(security or KafkaSecurity()).client_options())
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, start)
        position = start
        while position < end:
            out: list[ConsumerRecord[bytes, bytes]] = []
            deadline = time.monotonic() + timeout
            while len(out) < chunk and position < end:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{topic}[{partition}] {position}..{end}: only "
                                       f"{len(out)} messages after {timeout:.0f}s")
                batch = await consumer.getmany(tp, timeout_ms=500, max_records=chunk - len(out))
                out.extend(m for m in batch.get(tp, []) if start <= m.offset < end)
                position = max(position, await consumer.position(tp))
            yield out, min(position, end)
    finally:
        await stop_quietly(consumer)


async def read_chunks(bootstrap: str, topic: str, partition: int, start: int, end: int, *,
                      chunk: int = 500, timeout: float = 60.0, attempts: int | None = None,
                      max_backoff: float = 10.0, security: KafkaSecurity | None = None
                      ) -> AsyncIterator[list[ConsumerRecord[bytes, bytes]]]:
    """The messages of ``topic[partition]`` with ``start <= offset < end``, in order, in
    lists of at most ``chunk``: a gap of any length costs bounded memory.

    Each chunk must arrive within ``timeout`` seconds. When the broker fails or is too slow,
    the reader backs off, opens a new consumer and resumes at the first offset it has not
    yielded yet (``attempts``: give up and raise after that many failures in a row; None:
    never). Offsets below the log start (deleted by retention) are simply absent.
    """
    position, failures, backoff = start, 0, 0.5
    while position < end:
        try:
            async for records, reached in _read_once(bootstrap, topic, partition, position,
                                                     end, chunk, timeout, security):
                position, failures, backoff = reached, 0, 0.5
                if records:
                    yield records
        except Exception as exc:
            failures += 1
            if attempts is not None and failures >= attempts:
                raise
            log.warning("reading %s[%s] %s..%s failed, retrying in %.1fs: %r", topic,
                        partition, position, end, backoff, exc)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, max_backoff)


async def read_range(bootstrap: str, topic: str, partition: int, start: int, end: int, *,
                     timeout: float = 60.0, security: KafkaSecurity | None = None,
                     ) -> list[ConsumerRecord[bytes, bytes]]:
    """Every message of ``topic[partition]`` with ``start <= offset < end``, in one list.

    For tools and tests; the worker reads gaps with :func:`read_chunks`. Raises
    ``TimeoutError`` when a chunk does not arrive within ``timeout`` seconds.
    """
    return [m async for records in read_chunks(bootstrap, topic, partition, start, end,
                                               timeout=timeout, attempts=1, security=security)
            for m in records]


async def release_skipped(consumer: Any, tp: Any, previous: int | None, offset: int) -> None:
    """Let Faust commit past offsets its consumer skipped before ``offset``.

    ``previous`` is the offset of the partition's previous message from the consumer in this
    assignment (None for the first one: then the committed offset is the reference). Faust
    commits only a run of acked offsets that starts at its committed offset; when the stream
    skips ahead (the race above) without Faust booking a gap, the run never starts again and
    commits of that partition stop for good. Call this once the skipped messages are applied
    (they were, or the gap filler applied them): it books them the way Faust books offsets
    that never arrive, so they are committed once a later message is acked.
    """
    if previous is None:
        start = committed_offset(consumer, tp)
        if start is None or offset <= start:
            return
    elif offset > previous + 1:
        start = previous + 1
    else:
        return
    log.info("%s[%s]: the consumer skipped from %s to %s (committed %s)", tp.topic,
             tp.partition, start, offset, committed_offset(consumer, tp))
    await add_gap(consumer, tp, start, offset - 1)
