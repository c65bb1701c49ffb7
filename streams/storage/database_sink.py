"""The PostgreSQL sink: batched, off the event loop, idempotent, with backpressure.

Agents hand the sink rows plus an ``ack`` callback for the source message, and optionally the
new state of a table key. Rows are coalesced per primary key (the latest wins), written in
one transaction per flush by a worker thread; only then are the states made durable (one
changelog write per key and flush, through ``on_state``), the messages queued in the outbox
delivered (``on_outbox``: training examples, one message per flush) and the source messages
acknowledged. So Faust commits an offset only after its effect is in the database, and a
state never runs ahead of the database: a crash replays from the last commit and recomputes
the same rows, which the idempotent upserts absorb. If the database is down the flush retries
with backoff; once ``max_pending`` messages wait, :meth:`Sink.put` blocks the agent
(backpressure) and nothing is lost: un-acked messages are re-delivered after a crash.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError, OperationalError

log = logging.getLogger(__name__)

Row = dict[str, Any]
Ack = Callable[[], Any]


@dataclass(frozen=True)
class Upsert:
    """How rows of one table are written.

    ``keys`` is the natural/deterministic key; ``guard`` (optional) is a monotonic column:
    a row never overwrites a stored row whose guard is larger (an older in-flight write
    after a rebalance cannot undo a newer one). ``update=False`` inserts once, never updates.
    """

    table: Table
    keys: tuple[str, ...]
    guard: str | None = None
    update: bool = True


def _statement(spec: Upsert, dialect_name: str, columns: tuple[str, ...]) -> Any:
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(spec.table)
    if not spec.update:
        return stmt.on_conflict_do_nothing(index_elements=list(spec.keys))
    updates: dict[str, Any] = {c: stmt.excluded[c] for c in columns if c not in spec.keys}
    if "updated_at" in spec.table.c and "updated_at" not in columns:
        updates["updated_at"] = func.now()  # onupdate= does not fire in an upsert
    where = None
    if spec.guard is not None:
        where = spec.table.c[spec.guard] <= stmt.excluded[spec.guard]
    return stmt.on_conflict_do_update(index_elements=list(spec.keys), set_=updates, where=where)


_STATEMENTS: dict[tuple[Upsert, str, tuple[str, ...]], Any] = {}


def write_rows(engine: Engine, batches: Mapping[Upsert, Sequence[Row]]) -> int:
    """Upsert every batch in one transaction (PostgreSQL or SQLite). Returns rows written.

    Each statement is built once per table and column set and executed with all its rows
    (SQLAlchemy batches them into multi-row ``INSERT .. ON CONFLICT``).
    """
    written = 0
    with engine.begin() as conn:
        for spec, rows in batches.items():
            if not rows:
                continue
            columns = tuple(rows[0])
            key = (spec, engine.dialect.name, columns)
            stmt = _STATEMENTS.get(key)
            if stmt is None:
                stmt = _STATEMENTS[key] = _statement(spec, engine.dialect.name, columns)
            conn.execute(stmt, list(rows))
            written += len(rows)
    return written


class Sink:
    """Buffers rows, flushes them from a worker thread, then runs the acks.

    Parameters
    ----------
    engine_factory
        Builds the SQLAlchemy engine lazily (in the worker thread, at first flush).
    batch
        Flush as soon as this many messages wait (``LIFELINE_SINK_BATCH``).
    interval
        Flush at least this often, in seconds (``LIFELINE_SINK_INTERVAL``).
    max_pending
        :meth:`put` waits while this many messages are unflushed (``LIFELINE_SINK_MAX_PENDING``).
    """

    def __init__(self, engine_factory: Callable[[], Engine], *, batch: int = 2000,
                 interval: float = 1.0, max_pending: int = 50_000,
                 max_backoff: float = 10.0,
                 on_state: Callable[[Mapping[Any, tuple[int, Any]]], Awaitable[None]]
                 | None = None,
                 on_outbox: Callable[[list[Any]], Awaitable[None]] | None = None) -> None:
        if batch < 1 or max_pending < batch or interval <= 0:
            raise ValueError("need batch >= 1, max_pending >= batch and interval > 0")
        self._engine_factory = engine_factory
        self._engine: Engine | None = None
        self.batch, self.interval, self.max_pending = batch, interval, max_pending
        self.max_backoff = max_backoff
        self._rows: dict[Upsert, dict[tuple[Any, ...], Row]] = {}
        self._acks: list[Ack] = []
        self._states: dict[Any, tuple[int, Any]] = {}
        self._outbox: list[Any] = []
        self._buffered = 0
        self.on_state = on_state
        self.on_outbox = on_outbox
        self._inflight = 0
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lifeline-sink")
        self._lock = asyncio.Lock()
        self._room = asyncio.Event()
        self._room.set()
        self._due = asyncio.Event()
        self.rows_written = 0
        self.failures = 0

    @property
    def pending(self) -> int:
        """Messages whose effect is not yet in the database (buffered or being written)."""
        return len(self._acks) + self._inflight

    def add(self, spec: Upsert, row: Row) -> None:
        """Buffer one row without an ack (its message is acked by a later :meth:`put`)."""
        self._rows.setdefault(spec, {})[tuple(row[k] for k in spec.keys)] = row
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
        if self.pending >= self.max_pending:
            self._room.clear()

    def _write(self, batches: Mapping[Upsert, Sequence[Row]]) -> int:
        if self._engine is None:
            self._engine = self._engine_factory()
        return write_rows(self._engine, batches)

    async def flush(self) -> int:
        """Write everything buffered (retrying until the database answers), then ack."""
        async with self._lock:
            rows, acks, states, outbox = self._rows, self._acks, self._states, self._outbox
            self._rows, self._acks, self._states, self._outbox = {}, [], {}, []
            self._buffered = 0
            if not rows and not acks and not states and not outbox:
                return 0
            batches = {spec: list(by_key.values()) for spec, by_key in rows.items()}
            self._inflight = len(acks)
            loop = asyncio.get_running_loop()
            backoff = 0.2
            while True:
                try:
                    written = await loop.run_in_executor(self._pool, self._write, batches)
                    break
                except (OperationalError, DBAPIError, OSError) as exc:
                    self.failures += 1
                    log.warning("sink: database write failed (%s rows waiting), retrying in "
                                "%.1fs: %s", len(acks), backoff, str(exc).splitlines()[0])
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.max_backoff)
            self.rows_written += written
            self._inflight = 0
            if self.on_state is not None and states:
                await self.on_state(states)  # delivered (broker ack) before any source ack
            if self.on_outbox is not None and outbox:
                await self.on_outbox(outbox)  # delivered before any source ack too
            for ack in acks:
                ack()
            if self.pending < self.max_pending:
                self._room.set()
            return written

    async def run(self) -> None:
        """Flush every ``interval`` seconds, or sooner when a batch is full; forever."""
        while True:
            try:
                await asyncio.wait_for(self._due.wait(), timeout=self.interval)
            except TimeoutError:
                pass
            self._due.clear()
            await self.flush()

    def close(self) -> None:
        """Release the worker thread and the engine's connections."""
        self._pool.shutdown(wait=True)
        if self._engine is not None:
            self._engine.dispose()
