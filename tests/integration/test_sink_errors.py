"""Sink errors by class on real PostgreSQL: bad rows set aside, transient errors retried."""

from __future__ import annotations

import asyncio
import logging
import threading
from datetime import UTC, datetime
from typing import Any

import psycopg2
import pytest
import sqlalchemy as sa

from streams.storage.database_sink import Sink, Upsert
from streams.storage.row_errors import classify, write_or_set_aside
from streams.storage.schema import SegmentTransition, UserProfile, make_engine
from tests.integration import helpers

pytestmark = pytest.mark.integration

PROFILES = Upsert(UserProfile.__table__, ("user_id",), guard="events")  # type: ignore[arg-type]
TRANSITIONS = Upsert(SegmentTransition.__table__, ("change_id",), update=False)  # type: ignore[arg-type]
T = datetime(2026, 1, 1, tzinfo=UTC)


def row(user: str, events: int = 1, **extra: Any) -> dict[str, Any]:
    return {"user_id": user, "first_seen": T, "last_seen": T, "events": events,
            "purchases": 0, "revenue": 1.5, "interest_segment": None, **extra}


def test_write_or_set_aside__nul_and_overlong_rows_do_not_block_the_others(
    database: str,
) -> None:
    engine = make_engine(database)
    good = [row(f"u{i}") for i in range(40)]
    bad = [row("nul\x00user"), row("u-long", interest_segment="x" * 600)]
    transitions = [{"change_id": "c1", "user_id": "u1", "dimension": "lifecycle",
                    "from_segment": None, "to_segment": "new", "at": T, "reason": "r\x00"},
                   {"change_id": "c2", "user_id": "u2", "dimension": "lifecycle",
                    "from_segment": None, "to_segment": "new", "at": T, "reason": "ok"}]
    batch = {PROFILES: good[:20] + bad + good[20:], TRANSITIONS: transitions}
    outcome = write_or_set_aside(engine, batch)
    again = write_or_set_aside(engine, batch)  # a replayed flush records nothing twice
    engine.dispose()
    assert outcome.written == 41 and len(outcome.rejected) == 3
    assert again.written == 41 and len(again.rejected) == 3
    users = {r[0] for r in helpers.rows(database, "SELECT user_id FROM user_profiles")}
    assert users == {f"u{i}" for i in range(40)}
    changes = helpers.rows(database, "SELECT change_id FROM segment_transitions")
    assert [r[0] for r in changes] == ["c2"]
    rejected = helpers.rows(database, "SELECT table_name, user_id, reason, detail, row "
                                      "FROM rejected_rows ORDER BY table_name, user_id")
    assert [(r[0], r[1], r[2]) for r in rejected] == [
        ("segment_transitions", "u1", "driver:ValueError"),
        ("user_profiles", "nul\\x00user", "driver:ValueError"),
        ("user_profiles", "u-long", "sqlstate:22001"),
    ]
    assert "NUL" in rejected[1][3] and rejected[1][4]["user_id"] == "nul\\x00user"
    assert rejected[2][4]["interest_segment"].endswith("...[600 chars]")


async def test_sink__bad_rows_are_acked_and_the_worker_goes_on(database: str) -> None:
    sink = Sink(lambda: make_engine(database), batch=5, interval=0.05)
    acked: list[int] = []
    flusher = asyncio.create_task(sink.run())
    for i in range(30):
        user = f"v{i}" if i % 10 else f"bad\x00{i}"
        await sink.put([(PROFILES, row(user))], lambda i=i: acked.append(i))
    while len(acked) < 30:
        await asyncio.sleep(0.05)
    flusher.cancel()
    sink.close()
    assert sorted(acked) == list(range(30)) and sink.rows_rejected == 3
    assert len(helpers.rows(database, "SELECT 1 FROM user_profiles")) == 27
    assert len(helpers.rows(database, "SELECT 1 FROM rejected_rows")) == 3


def test_make_engine__statement_and_lock_timeouts_are_set_and_transient(database: str) -> None:
    engine = make_engine(database, connect_timeout=3, statement_timeout=0.5, lock_timeout=0.3)
    with engine.connect() as conn:
        assert conn.execute(sa.text("SHOW statement_timeout")).scalar() == "500ms"
        assert conn.execute(sa.text("SHOW lock_timeout")).scalar() == "300ms"
        with pytest.raises(sa.exc.OperationalError) as hung:
            conn.execute(sa.text("SELECT pg_sleep(5)"))
    assert classify(hung.value) == "transient"  # 57014 query_canceled: retried
    # A lock held by another session: lock_timeout (55P03) instead of waiting forever.
    holder = psycopg2.connect(database.replace("postgresql+psycopg2", "postgresql"))
    cur = holder.cursor()
    cur.execute("INSERT INTO user_profiles (user_id, first_seen, last_seen, events, purchases,"
                " revenue) VALUES ('locked', now(), now(), 1, 0, 0)")
    with engine.connect() as conn, pytest.raises(sa.exc.OperationalError) as locked:
        conn.execute(sa.text("LOCK TABLE user_profiles IN ACCESS EXCLUSIVE MODE"))
    holder.rollback()
    holder.close()
    engine.dispose()
    assert locked.value.orig.pgcode == "55P03" and classify(locked.value) == "transient"


def test_classify__deadlock_and_serialization_failures_are_transient(database: str) -> None:
    engine = make_engine(database)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO user_profiles (user_id, first_seen, last_seen, events,"
                             " purchases, revenue) VALUES ('a', now(), now(), 1, 0, 0),"
                             " ('b', now(), now(), 1, 0, 0)"))
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def crosswise(first: str, second: str) -> None:
        try:
            with engine.begin() as conn:
                conn.execute(sa.text("UPDATE user_profiles SET events = events + 1 "
                                     "WHERE user_id = :u"), {"u": first})
                barrier.wait()
                conn.execute(sa.text("UPDATE user_profiles SET events = events + 1 "
                                     "WHERE user_id = :u"), {"u": second})
        except sa.exc.DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=crosswise, args=p) for p in (("a", "b"), ("b", "a"))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine.dispose()
    assert [e.orig.pgcode for e in errors] == ["40P01"]  # type: ignore[attr-defined]
    assert classify(errors[0]) == "transient"
    serialization = sa.exc.OperationalError("UPDATE", {}, psycopg2.errors.SerializationFailure())
    assert classify(serialization) == "transient"


async def test_sink__backpressure_counts_rows_as_well_as_messages(database: str) -> None:
    sink = Sink(lambda: make_engine(database), batch=10, interval=30.0, max_pending=1000,
                max_pending_rows=50)
    rows = [(PROFILES, row(f"r{i}")) for i in range(60)]
    await sink.put(rows, None)  # one message, 60 rows (a tick): accepted, then the sink is full
    blocked = asyncio.create_task(sink.put([(PROFILES, row("later"))], None))
    await asyncio.sleep(0.2)
    assert not blocked.done() and sink.pending == 0 and sink.pending_rows == 60
    await sink.flush()
    await asyncio.wait_for(blocked, timeout=5)
    await sink.flush()
    sink.close()
    assert len(helpers.rows(database, "SELECT 1 FROM user_profiles")) == 61


async def test_sink__a_flush_failing_beyond_retry_is_logged_and_raised(
    database: str, caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(states: Any) -> None:
        raise RuntimeError("broker refused")

    sink = Sink(lambda: make_engine(database), batch=1, interval=0.05, max_backoff=0.01,
                delivery_attempts=3, on_state=broken)
    acked: list[int] = []
    await sink.put([(PROFILES, row("s"))], lambda: acked.append(1), states={"s": (0, {})})
    with caplog.at_level(logging.WARNING), pytest.raises(RuntimeError, match="broker refused"):
        await asyncio.wait_for(sink.run(), timeout=10)
    sink.close()
    assert not acked, "nothing is acked when its state could not be delivered"
    assert sink.failures == 3
    assert any(r.levelno == logging.CRITICAL and "stopping the worker" in r.getMessage()
               for r in caplog.records)
