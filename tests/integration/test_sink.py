"""The database sink on real PostgreSQL: idempotent upserts, guard, outage with backpressure."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from streams.storage.database_sink import Sink, Upsert, write_rows
from streams.storage.schema import UserProfile, make_engine

pytestmark = pytest.mark.integration

PROFILES = Upsert(UserProfile.__table__, ("user_id",), guard="events")  # type: ignore[arg-type]
T = datetime(2026, 1, 1, tzinfo=UTC)


def row(user: str, events: int, revenue: float = 0.0) -> dict[str, object]:
    return {"user_id": user, "first_seen": T, "last_seen": T, "events": events,
            "purchases": 0, "revenue": revenue}


def stored(url: str) -> dict[str, tuple[int, float]]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT user_id, events, revenue FROM user_profiles"))
        out = {r[0]: (r[1], r[2]) for r in rows}
    engine.dispose()
    return out


def test_write_rows__replay_is_idempotent_and_older_rows_never_win(database: str) -> None:
    engine = make_engine(database)
    batch = [row("a", 3, 9.0), row("b", 1)]
    write_rows(engine, {PROFILES: batch})
    write_rows(engine, {PROFILES: batch})  # a replay after a crash
    write_rows(engine, {PROFILES: [row("a", 2, 5.0)]})  # an older in-flight write
    engine.dispose()
    assert stored(database) == {"a": (3, 9.0), "b": (1, 0.0)}


async def test_sink__outage_blocks_producers_and_loses_nothing(database: str) -> None:
    attempts = {"n": 0}

    def factory() -> sa.Engine:
        attempts["n"] += 1
        # The first engines point at a port where no database listens.
        if attempts["n"] <= 3:
            return make_engine("postgresql+psycopg2://postgres@127.0.0.1:1/nowhere")
        return make_engine(database)

    class FlakySink(Sink):
        def _write(self, batches):  # type: ignore[no-untyped-def]
            self._engine = None  # a fresh engine per attempt: the outage ends after 3 tries
            return super()._write(batches)

    sink = FlakySink(factory, batch=10, interval=0.05, max_pending=20, max_backoff=0.2)
    acked: list[int] = []
    flusher = asyncio.create_task(sink.run())
    producer = asyncio.create_task(_put_all(sink, acked, 50))
    await asyncio.sleep(0.3)
    assert not acked, "acks must wait for a successful write"
    assert not producer.done() and sink.pending >= 20, "producer should be held back"
    await asyncio.wait_for(producer, timeout=30)
    while len(acked) < 50:
        await asyncio.sleep(0.05)
    flusher.cancel()
    sink.close()
    assert sink.failures >= 3
    assert sorted(acked) == list(range(50))
    assert stored(database) == {f"u{i}": (1, float(i)) for i in range(50)}


async def _put_all(sink: Sink, acked: list[int], n: int) -> None:
    for i in range(n):
        await sink.put([(PROFILES, row(f"u{i}", 1, float(i)))], lambda i=i: acked.append(i))


async def test_sink__outbox_is_delivered_in_order_after_the_write_before_the_acks(
    database: str,
) -> None:
    events: list[str] = []

    async def deliver(items: list[object]) -> None:
        assert stored(database), "the outbox goes out after the rows are written"
        events.append(f"outbox {items}")

    sink = Sink(lambda: make_engine(database), batch=100, interval=10.0, on_outbox=deliver)
    await sink.put([(PROFILES, row("a", 1))], lambda: events.append("ack 1"), outbox=[1, 2])
    await sink.put([(PROFILES, row("b", 1))], lambda: events.append("ack 2"), outbox=[3])
    await sink.flush()
    sink.close()
    assert events == ["outbox [1, 2, 3]", "ack 1", "ack 2"]
