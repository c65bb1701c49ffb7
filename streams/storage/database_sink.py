"""The PostgreSQL sink: batched, off the event loop, idempotent, with backpressure.

Agents hand the sink rows plus an ``ack`` callback for the source message, and optionally the
new state of a table key. Rows are coalesced per primary key (the latest wins), written in
one transaction per flush by a worker thread; only then are the states made durable (one
changelog write per key and flush, through ``on_state``), the messages queued in the outbox
delivered (``on_outbox``: training examples, one message per flush) and the source messages
acknowledged. So Faust commits an offset only after its effect is in the database, and a
state never runs ahead of the database: a crash replays from the last commit and recomputes
the same rows, which the idempotent upserts absorb.

Errors by class (streams/storage/row_errors.py): if the database is down, times out or aborts
the transaction (serialization failure, deadlock), the flush retries with backoff; once
``max_pending`` messages or ``max_pending_rows`` rows wait, :meth:`Sink.put` blocks the agent
(backpressure) and nothing is lost: un-acked messages are re-delivered after a crash. Rows
the database refuses as data (NUL in a string, a value too long for its column, ...) never
block: the batch is bisected, the good rows are written and each bad row is recorded in
``rejected_rows`` with its reason. The flushing task never dies silently (:meth:`Sink.run`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from sqlalchemy import Engine

from streams.storage.row_errors import Outcome, reason_of, write_or_set_aside
from streams.storage.upserts import Row, Upsert, write_rows

log = logging.getLogger(__name__)

__all__ = ["Ack", "Row", "Sink", "Upsert", "write_rows"]

Ack = Callable[[], Any]
T = TypeVar("T")


class Sink:
    """Buffers rows, flushes them from a worker thread, then runs the acks.

    Parameters
    ----------
    engine_factory
        Builds the SQLAlchemy engine lazily (in the worker thread, at first flush).
    batch
        Flush as soon as this many messages (or rows) wait (``LIFELINE_SINK_BATCH``).
    interval
        Flush at least this often, in seconds (``LIFELINE_SINK_INTERVAL``).
    max_pending
        :meth:`put` waits while this many messages are unflushed (``LIFELINE_SINK_MAX_PENDING``).
    max_pending_rows
        ... or while this many rows are (``LIFELINE_SINK_MAX_PENDING_ROWS``): one message
        (a tick) can carry thousands of rows.
    max_backoff
        Longest wait between two attempts of a failing write or delivery, in seconds.
    delivery_attempts
        Attempts of ``on_state`` / ``on_outbox`` before the sink gives up and raises (its
        task then crashes the worker loudly; un-acked messages are re-delivered).
    """

    def __init__(self, engine_factory: Callable[[], Engine], *, batch: int = 2000,
                 interval: float = 1.0, max_pending: int = 50_000,
                 max_pending_rows: int | None = None,
                 max_backoff: float = 10.0, delivery_attempts: int = 8,
                 on_state: Callable[[Mapping[Any, tuple[int, Any]]], Awaitable[None]]
                 | None = None,
                 on_outbox: Callable[[list[Any]], Awaitable[None]] | None = None) -> None:
        max_rows = max_pending if max_pending_rows is None else max_pending_rows
        if batch < 1 or max_pending < batch or interval <= 0 or max_rows < batch:
            raise ValueError("need batch >= 1, max_pending >= batch, max_pending_rows >= "
                             "batch and interval > 0")
        if delivery_attempts < 1:
            raise ValueError("need delivery_attempts >= 1")
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self.batch, self.interval, self.max_pending = batch, interval, max_pending
        self.max_pending_rows = max_rows
        self.max_backoff, self.delivery_attempts = max_backoff, delivery_attempts
        self._rows: dict[Upsert, dict[tuple[Any, ...], Row]] = {}
        self._acks: list[Ack] = []
        self._states: dict[Any, tuple[int, Any]] = {}
        self._outbox: list[Any] = []
        self._buffered = 0
        self.on_state = on_state
        self.on_outbox = on_outbox
        self._inflight = 0
        self._inflight_rows = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifeline-sink")
        self._lock = asyncio.Lock()
        self._room = asyncio.Event()
        self._room.set()
        self._due = asyncio.Event()
        self.rows_written = 0
        self.rows_rejected = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        """Messages whose effect is not yet in the database (buffered or being written)."""
        return len(self._acks) + self._inflight

    @property
    def pending_rows(self) -> int:
        """Rows not yet in the database (buffered, before coalescing, or being written)."""
        return self._buffered + self._inflight_rows

    def _full(self) -> bool:
        return self.pending >= self.max_pending or self.pending_rows >= self.max_pending_rows

    def add(self, spec: Upsert, row: Row) -> None:
        """Buffer one row without an ack (its message is acked by a later :meth:`put`)."""
        by_key = self._rows.get(spec)
        if by_key is None:
            by_key = self._rows[spec] = {}
        by_key[spec.key_of(row)] = row
        self._buffered += 1

    def mark(self, key: Any, partition: int, value: Any) -> None:
        """Set a table key's state for the next flush, without rows or an ack.

        Call it after the :meth:`put` of the message it describes: it then reaches the
        changelog in the same flush as that message's states, or in a later one.
        """
        self._states[key] = (partition, value)

    async def put(self, rows: Sequence[tuple[Upsert, Row]], ack: Ack | None,
                  states: Mapping[Any, tuple[int, Any]] | None = None,
                  outbox: Sequence[Any] = ()) -> None:
        """Buffer rows for one source message; ``ack`` runs once they are written.

        Waits first while the sink is full (backpressure, in messages and in rows).
        ``states`` maps table keys to ``(partition, value)``: handed to ``on_state`` after the
        rows are written and awaited before the acks (the newest value per key and flush).
        ``outbox`` items are handed to ``on_outbox`` in order, once per flush, after the
        states and before the acks.
        """
        while not self._room.is_set():
            await self._room.wait()
        for spec, row in rows:
            self.add(spec, row)
        if states:
            self._states.update(states)
        if outbox:
            self._outbox.extend(outbox)
        if ack is not None:
            self._acks.append(ack)
        if len(self._acks) >= self.batch or self._buffered >= self.batch:
            self._due.set()  # a batch of messages, or of rows (one message may carry many)
        if self._full():
            self._due.set()
            self._room.clear()

    def _write(self, batches: Mapping[Upsert, Sequence[Row]]) -> Outcome:
        if self._engine is None:
            self._engine = self._engine_factory()
        return write_or_set_aside(self._engine, batches)

    async def _retry(self, what: str, attempt: Callable[[], Awaitable[T]],
                     limit: int | None) -> T:
        """Await ``attempt()`` until it succeeds (at most ``limit`` times), backing off."""
        backoff, tries = 0.2, 0
        while True:
            try:
                return await attempt()
            except Exception as exc:
                tries += 1
                self.failures += 1
                if limit is not None and tries >= limit:
                    raise
                log.warning("sink: %s failed (%d messages, %d rows waiting), retrying in "
                            "%.1fs: %s %s", what, self.pending, self.pending_rows, backoff,
                            reason_of(exc), (str(exc).splitlines() or [""])[0][:300])
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff)

    async def flush(self) -> int:
        """Write everything buffered, then deliver states and outbox, then ack.

        Transient database errors are retried until the database answers; rows the database
        refuses are set aside in ``rejected_rows`` (see streams/storage/row_errors.py).
        """
        async with self._lock:
            rows, acks, states, outbox = self._rows, self._acks, self._states, self._outbox
            self._rows, self._acks, self._states, self._outbox = {}, [], {}, []
            self._inflight_rows, self._buffered = self._buffered, 0
            if not rows and not acks and not states and not outbox:
                return 0
            batches = {spec: list(by_key.values()) for spec, by_key in rows.items()}
            self._inflight = len(acks)
            loop = asyncio.get_running_loop()

            async def write() -> Outcome:
                return await loop.run_in_executor(self._pool, self._write, batches)

            outcome = await self._retry("database write", write, None)
            self.rows_written += outcome.written
            self.rows_rejected += len(outcome.rejected)
            if self.on_state is not None and states:
                on_state = self.on_state  # delivered (broker ack) before any source ack
                await self._retry("changelog write", lambda: on_state(states),
                                  self.delivery_attempts)
            if self.on_outbox is not None and outbox:
                on_outbox = self.on_outbox  # delivered before any source ack too
                await self._retry("outbox delivery", lambda: on_outbox(outbox),
                                  self.delivery_attempts)
            self._inflight, self._inflight_rows = 0, 0
            for ack in acks:
                ack()
            if not self._full():
                self._room.set()
            return outcome.written

    async def run(self) -> None:
        """Flush every ``interval`` seconds, or sooner when a batch is full; forever.

        Never ends silently: a flush that fails beyond its retries is logged as critical and
        raised, which crashes the worker (Faust logs the reason and the process exits); its
        messages were not acked, so they are re-delivered to the worker that takes over.
        """
        while True:
            try:
                await asyncio.wait_for(self._due.wait(), timeout=self.interval)
            except TimeoutError:
                pass
            self._due.clear()
            try:
                await self.flush()
            except Exception:
                log.critical("sink: flush failed beyond retry (%d messages, %d rows not "
                             "acked); stopping the worker", self.pending, self.pending_rows,
                             exc_info=True)
                raise

    def close(self) -> None:
        """Release the worker thread and the engine's connections."""
        self._pool.shutdown(wait=True)
        if self._engine is not None:
            self._engine.dispose()
