"""Publish recorded or generated events to the ``user-events`` topic, fast or paced.

`replay` takes a file (JSON Lines / CSV, see `streams.data.datasets.read_events`) or any iterable
of contract events and produces them keyed by ``user_id`` with one batching
`aiokafka.AIOKafkaProducer`. Raw ``bytes`` items (lines of a file that were not JSON objects)
are published unchanged with no key, so malformed input reaches the worker's dead-letter
path exactly as a broken producer would send it.

With ``batch`` > 1 it publishes as a collector would (see `batches`): up to ``batch``
consecutive events of one user become one message, a JSON array of events (the contract's
batch shape, online_models/contract.py).

No environment variables are read here: the caller passes the settings.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Mapping, Sized
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from online_models.contract import MAX_MESSAGE_BYTES, parse_ts
from streams.data.datasets import read_events
from streams.kafka_clients import KafkaSecurity
from streams.topics import USER_EVENTS

__all__ = ["TokenBucket", "batches", "replay"]

Source = str | Path | Iterable[Mapping[str, Any] | bytes]
Item = Mapping[str, Any] | list[Mapping[str, Any]] | bytes
# A batch message stays this far below the worker's message limit (the array's brackets and
# commas included).
_BATCH_BYTES = MAX_MESSAGE_BYTES - 1024


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


def batches(events: Iterable[Mapping[str, Any] | bytes], size: int, *,
            window_s: float = 1800.0) -> Iterator[Item]:
    """Group up to ``size`` consecutive events of each user into one batch (a list).

    A user's batch is sent once it holds ``size`` events, would pass the message size limit,
    or spans more than ``window_s`` of event time (a session), and at the end; every batch
    whose first event is more than ``window_s`` behind the newest event time seen is sent
    too, so no event is held back far in event time. A user's events keep their order; a
    batch of one event is sent as the event itself. Items that are not events (``bytes``),
    or without a user or a readable ``ts``, pass through at once.

    Examples
    --------
    >>> evs = [{"user_id": u, "ts": 1e9 + t}
    ...        for u, t in [("a", 0), ("b", 1), ("a", 2), ("a", 9000), ("b", 9001)]]
    >>> [[e["user_id"] for e in b] if isinstance(b, list) else b["user_id"]
    ...  for b in batches(evs, 5)]  # "a" at 9000 s is a new session: "b" at 1 s goes first
    [['a', 'a'], 'b', 'a', 'b']
    >>> [b if isinstance(b, dict) else len(b)
    ...  for b in batches([{"user_id": "a", "ts": 1e9 + t} for t in range(7)], 3)]
    [3, 3, {'user_id': 'a', 'ts': 1000000006.0}]
    """
    if size < 1:
        raise ValueError(f"batch size must be >= 1, got {size!r}")
    open_: dict[Any, tuple[float, list[Mapping[str, Any]], int]] = {}  # first ts, events, bytes
    newest = float("-inf")

    def flush(user: Any) -> Item:
        _, group, _ = open_.pop(user)
        return group if len(group) > 1 else group[0]

    for event in events:
        if isinstance(event, bytes | bytearray):
            yield event
            continue
        user = event.get("user_id")
        try:
            ts = parse_ts(event["ts"]) if user not in (None, "") else None
        except (KeyError, TypeError, ValueError):
            ts = None
        if ts is None:
            yield event
            continue
        length = len(orjson.dumps(event)) + 1
        current = open_.get(user)
        if current is not None and (ts - current[0] > window_s
                                    or current[2] + length > _BATCH_BYTES):
            yield flush(user)
            current = None
        if current is None:
            open_[user] = current = (ts, [], 0)
        current[1].append(event)
        open_[user] = (current[0], current[1], current[2] + length)
        if len(current[1]) >= size:
            yield flush(user)
        if ts > newest:
            newest = ts
            for stale in [u for u, (first, _, _) in open_.items() if newest - first > window_s]:
                yield flush(stale)
    for user in list(open_):
        yield flush(user)


def encode(event: Item) -> tuple[bytes | None, bytes]:
    """Return the ``(key, value)`` of one event (or a batch of one user's events) as published.

    Examples
    --------
    >>> encode({"user_id": "u-1", "type": "login"})
    (b'u-1', b'{"user_id":"u-1","type":"login"}')
    >>> encode([{"user_id": "u-1", "ts": 1}, {"user_id": "u-1", "ts": 2}])[0]
    b'u-1'
    >>> encode(b"{broken")
    (None, b'{broken')
    """
    if isinstance(event, bytes | bytearray):
        return None, bytes(event)
    if isinstance(event, list):
        user = event[0].get("user_id")
        return str(user).encode(), orjson.dumps(event)
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
    batch: int = 1,
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
    batch
        Up to this many consecutive events of a user per message (see `batches`; 1: one
        event per message).

    Returns
    -------
    int
        Number of events sent and acknowledged by the broker (a batch counts its events).

    Raises
    ------
    ValueError
        On a bad `bootstrap` or `rate`.
    kafka errors
        The first delivery error, after all pending sends settled.
    """
    if rate is not None and not rate > 0:
        raise ValueError(f"rate must be > 0 events/s or None, got {rate!r}")
    if batch < 1:
        raise ValueError(f"batch must be >= 1 events per message, got {batch!r}")
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
    sent = shown = 0
    bar = tqdm(total=total, unit="ev", unit_scale=True, disable=not progress, desc=topic)
    items: Iterable[Item] = batches(events, batch) if batch > 1 else events
    try:
        for item in items:
            n = len(item) if isinstance(item, list) else 1
            if bucket is not None:
                await bucket.take(n)
            key, value = encode(item)
            # send() only waits when the batch accumulator is full; delivery is awaited by
            # flush() below, failures are collected by the callback.
            delivery = await producer.send(topic, value=value, key=key)
            delivery.add_done_callback(settled)
            sent += n
            if sent - shown >= 1024:
                bar.update(sent - shown)
                shown = sent
                if failures:
                    break
        await producer.flush()
        bar.update(sent - shown)
    finally:
        bar.close()
        await producer.stop()
    if failures:
        raise failures[0]
    return sent
