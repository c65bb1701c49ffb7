"""Publish recorded or generated events to the ``user-events`` topic, fast or paced.

`replay` takes a file (JSON Lines / CSV, see `streams.data.datasets.read_events`) or any iterable
of contract events and produces them keyed by ``user_id`` with one batching
`aiokafka.AIOKafkaProducer`. Raw ``bytes`` items (lines of a file that were not JSON objects)
are published unchanged with no key, so malformed input reaches the worker's dead-letter
path exactly as a broken producer would send it.

No environment variables are read here: the caller passes the settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Mapping, Sized
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from streams.data.datasets import read_events
from streams.kafka_clients import KafkaSecurity
from streams.topics import USER_EVENTS

__all__ = ["TokenBucket", "replay"]

Source = str | Path | Iterable[Mapping[str, Any] | bytes]


class TokenBucket:
    """Async token bucket: `take` waits until ``n`` tokens are available.

    Parameters
    ----------
    rate
        Tokens added per second (events/s); must be > 0.
    burst
        Bucket capacity; default one tenth of a second of `rate` (at least 1).

    Examples
    --------
    >>> bucket = TokenBucket(rate=1000.0)
    >>> asyncio.run(bucket.take())
    """

    def __init__(self, rate: float, burst: float | None = None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be > 0 events/s, got {rate!r}")
        self.rate = float(rate)
        self.burst = float(burst) if burst is not None else max(1.0, self.rate / 10)
        if self.burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self._tokens = self.burst
        self._stamp = time.monotonic()

    async def take(self, n: float = 1.0) -> None:
        """Remove ``n`` tokens, sleeping first if the bucket holds fewer."""
        while True:
            now = time.monotonic()
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now
            if self._tokens >= n:
                self._tokens -= n
                return
            await asyncio.sleep((n - self._tokens) / self.rate)


def bootstrap_servers(bootstrap: str) -> str:
    """Normalise ``"kafka://host:port[;kafka://host2:port]"`` to ``"host:port,host2:port"``.

    Examples
    --------
    >>> bootstrap_servers("kafka://localhost:9092")
    'localhost:9092'
    """
    hosts = [h.strip() for h in bootstrap.replace(";", ",").split(",") if h.strip()]
    hosts = [h.removeprefix("kafka://") for h in hosts]
    if not hosts or any(":" not in h for h in hosts):
        raise ValueError(f"bootstrap must be 'host:port[,host:port]', got {bootstrap!r}")
    return ",".join(hosts)


def encode(event: Mapping[str, Any] | bytes) -> tuple[bytes | None, bytes]:
    """Return the ``(key, value)`` of one event as published.

    Examples
    --------
    >>> encode({"user_id": "u-1", "type": "login"})
    (b'u-1', b'{"user_id":"u-1","type":"login"}')
    >>> encode(b"{broken")
    (None, b'{broken')
    """
    if isinstance(event, bytes | bytearray):
        return None, bytes(event)
    user = event.get("user_id")
    key = None if user is None or user == "" else str(user).encode()
    return key, orjson.dumps(event)


def _count_lines(path: Path) -> int | None:
    """Cheap upper bound on the events in a file, for the progress bar's total."""
    try:
        with open(path, "rb") as handle:
            lines = sum(chunk.count(b"\n") for chunk in iter(lambda: handle.read(1 << 20), b""))
    except OSError:
        return None
    return max(0, lines - 1) if path.suffix.lower() == ".csv" else lines


async def replay(
    path_or_events: Source,
    *,
    bootstrap: str,
    topic: str = USER_EVENTS.name,
    rate: float | None = None,
    progress: bool = True,
    linger_ms: int = 20,
    max_batch_size: int = 256 * 1024,
    acks: int | str = 1,
    security: KafkaSecurity | None = None,
) -> int:
    """Publish events to `topic`, key = ``user_id``, value = the event as JSON.

    Parameters
    ----------
    path_or_events
        A ``.jsonl``/``.json``/``.ndjson``/``.csv`` file, or an iterable of event dicts
        (``bytes`` items are sent verbatim, without key).
    bootstrap
        ``host:port`` of a broker (a ``kafka://`` prefix is accepted; several comma-separated).
    topic
        Destination topic; it must already exist (never rely on auto-creation).
    rate
        Maximum events per second (token bucket); ``None`` publishes as fast as possible.
    progress
        Show a tqdm progress bar on stderr.
    linger_ms, max_batch_size, acks
        Producer batching and durability (`aiokafka.AIOKafkaProducer` arguments).
    security
        TLS / SASL of the connection (``settings.kafka``; default plaintext).

    Returns
    -------
    int
        Number of events sent and acknowledged by the broker.

    Raises
    ------
    ValueError
        On a bad `bootstrap` or `rate`.
    kafka errors
        The first delivery error, after all pending sends settled.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0 events/s or None, got {rate!r}")
    servers = bootstrap_servers(bootstrap)
    total: int | None = None
    if isinstance(path_or_events, str | Path):
        total = _count_lines(Path(path_or_events))
        events: Iterable[Mapping[str, Any] | bytes] = read_events(path_or_events)
    else:
        events = path_or_events
        total = len(events) if isinstance(events, Sized) else None
    bucket = TokenBucket(rate) if rate is not None else None
    failures: list[BaseException] = []

    def settled(future: asyncio.Future[Any]) -> None:
        error = None if future.cancelled() else future.exception()
        if error is not None:
            failures.append(error)

    producer = AIOKafkaProducer(
        bootstrap_servers=servers,
        linger_ms=linger_ms,
        max_batch_size=max_batch_size,
        acks=acks,
        client_id="lifeline-replay",
        **(security or KafkaSecurity()).client_options(),
    )
    await producer.start()
    sent = 0
    bar = tqdm(total=total, unit="ev", unit_scale=True, disable=not progress, desc=topic)
    try:
        for event in events:
            if bucket is not None:
                await bucket.take()
            key, value = encode(event)
            # send() only waits when the batch accumulator is full; delivery is awaited by
            # flush() below, failures are collected by the callback.
            delivery = await producer.send(topic, value=value, key=key)
            delivery.add_done_callback(settled)
            sent += 1
            if sent % 1024 == 0:
                bar.update(1024)
                if failures:
                    break
        await producer.flush()
        bar.update(sent % 1024)
    finally:
        bar.close()
        await producer.stop()
    if failures:
        raise failures[0]
    return sent
