"""Event -> output latency of a running worker in live mode, for ``bench/throughput.py``.

A producer paces SYNTHETIC live-mix events (``bench.live_mix``) at ``rate`` events/s into
``user-events``; each event's ``ts`` is overwritten, just before ``send()``, with this
process's wall clock (``time.time()``, rounded to the millisecond as the event carries it),
so the event time *is* the send time. A consumer in the same process reads the worker's
outputs (``segment-changes`` and ``churn-alerts``) as they arrive and stamps each with the
same clock. An output's ``at`` is the event time of the event that caused it, so its latency
is ``received - at``: both ends on one clock, with the producer's batching, the broker
round-trip in and out, the worker's processing and its producer's batching included.

Only outputs whose ``(user, at)`` is an event this run sent count (a re-assessment at a
due time, or the warm-up, does not). A user's first event always changes its lifecycle
segment (``prospect`` or ``new``), so most samples are first events of users, the others
value segment moves and alerts.

The worker must already own its partitions: the caller publishes warm-up events first and
waits until the database counted them.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson


@dataclass(frozen=True)
class Latency:
    """Measured event -> output latencies in seconds."""

    rate: float  # target events/s of the producer
    sent: int
    seconds: float  # from the first send to the last
    samples: list[float]
    alerts: int  # samples that were churn alerts

    def quantile(self, q: float) -> float:
        ordered = sorted(self.samples)
        if not ordered:
            return math.nan
        return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]

    @property
    def achieved(self) -> float:
        return self.sent / self.seconds if self.seconds > 0 else math.nan


def _epoch(at: str) -> float:
    return datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()


async def _measure(bootstrap: str, source: str, outputs: list[str], events: list[dict[str, Any]],
                   rate: float, drain: float) -> Latency:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from streams.cli.replay import TokenBucket

    sent_at: dict[tuple[str, int], float] = {}
    samples: list[float] = []
    alerts = 0
    reader = AIOKafkaConsumer(*outputs, bootstrap_servers=bootstrap, auto_offset_reset="latest",
                              enable_auto_commit=False, fetch_max_wait_ms=50,
                              client_id="bench-latency-reader")
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=1,
                                client_id="bench-latency-producer")
    await reader.start()
    await producer.start()
    stop = asyncio.Event()

    async def read() -> None:
        nonlocal alerts
        while not stop.is_set():
            batches = await reader.getmany(timeout_ms=100)
            received = time.time()
            for tp, messages in batches.items():
                for message in messages:
                    value = orjson.loads(message.value)
                    at = value.get("at") or value.get("alerted_at") or value.get("ts")
                    user = value.get("user_id")
                    if not isinstance(at, str) or not isinstance(user, str):
                        continue
                    stamp = sent_at.get((user, round(_epoch(at) * 1000)))
                    if stamp is None:
                        continue
                    samples.append(received - stamp)
                    if "alert" in tp.topic:
                        alerts += 1

    try:
        # The reader must hold its (latest) positions before the first send.
        await reader.getmany(timeout_ms=1000)
        reading = asyncio.create_task(read())
        bucket = TokenBucket(rate)
        first = time.time()
        for event in events:
            await bucket.take()
            now = time.time()
            ms = round(now * 1000)
            event = {**event, "ts": ms / 1000}
            sent_at[(event["user_id"], ms)] = ms / 1000
            await producer.send(source, value=orjson.dumps(event),
                                key=event["user_id"].encode())
        last = time.time()
        await producer.flush()
        await asyncio.sleep(drain)
        stop.set()
        await reading
    finally:
        await producer.stop()
        await reader.stop()
    return Latency(rate, len(events), last - first, samples, alerts)


def measure(bootstrap: str, source: str, outputs: list[str], events: list[dict[str, Any]],
            rate: float, drain: float = 5.0) -> Latency:
    """Publish ``events`` at ``rate``/s to ``source``, read ``outputs``; see the module doc."""
    return asyncio.run(_measure(bootstrap, source, outputs, events, rate, drain))
