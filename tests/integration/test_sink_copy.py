"""The sink's COPY path on real PostgreSQL writes exactly what the executemany path wrote.

The same steps (batches of every Upsert spec in use, with awkward values, guards, repeated
keys, refused rows) are written both ways into one database, emptied in between; the tables
read back as text (JSON columns keep their text, floats their shortest exact form) and the
counts returned must be equal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from streams.runtime.outputs import (
    ALERTS,
    MEMBERSHIPS,
    MODEL_VERSIONS,
    OUTCOMES,
    PROFILES,
    TRANSITIONS,
)
from streams.storage import upserts
from streams.storage.row_errors import REJECTED, classify, rejection_row, write_or_set_aside
from streams.storage.schema import Base, UserProfile, make_engine
from streams.storage.upserts import Row, Upsert, write_rows
from tests.integration import helpers

pytestmark = pytest.mark.integration

SPECS = (PROFILES, MEMBERSHIPS, TRANSITIONS, ALERTS, OUTCOMES, MODEL_VERSIONS, REJECTED)
UNGUARDED = Upsert(cast(sa.Table, UserProfile.__table__), ("user_id",))  # same table, no guard
T = datetime(2026, 1, 1, 12, 30, 15, 123456, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
NEW_YORK_TWICE = datetime(2025, 11, 2, 1, 30, fold=1, tzinfo=ZoneInfo("America/New_York"))
AWKWARD = ["tab\there", "new\nline", "cr\rhere", "back\\slash", "\\N", "\\.", "NULL", "",
           "quote'\"s", "unicodé ✓ 😀 漢字", "end\\", "\x01\x7f\x1b", "  padded  ", "a,b;c|d"]
FLOATS = [math.nan, math.inf, -math.inf, -0.0, 0.0, 1e300, 5e-324, 0.1 + 0.2, 1 / 3, -1.5,
          2.5e-8, 1e16, 3]


def profile(user: str, events: int, i: int = 0, **extra: Any) -> Row:
    return {"user_id": user, "first_seen": T - timedelta(days=i),
            "last_seen": T.astimezone(IST) if i % 3 else NEW_YORK_TWICE + timedelta(hours=i),
            "events": events, "purchases": i % 3, "revenue": FLOATS[i % len(FLOATS)],
            "sessions": i, "cart_adds": 2 * i, "cart_abandons": i // 2,
            "last_purchase": None if i % 2 else T + timedelta(microseconds=i),
            "top_categories": [None, [], AWKWARD[i % len(AWKWARD):][:3],
                               [{"nested": {"x": [1, 2.5, None, True]}}]][i % 4],
            "churn_risk": None if i % 5 == 0 else FLOATS[(i + 3) % len(FLOATS)],
            "lifecycle": AWKWARD[i % len(AWKWARD)][:32] or None, "value_segment": "high",
            "interest_segment": AWKWARD[(i + 1) % len(AWKWARD)], "source_offset": 2 ** 62 - i,
            **extra}


def change(change_id: str, user: str, to: str | None, reason: str = "rule") -> Row:
    return {"change_id": change_id, "user_id": user, "dimension": "lifecycle",
            "from_segment": None, "to_segment": to, "at": T, "reason": reason}


def membership(user: str, dimension: str, segment: str | None, change_id: str) -> Row:
    return {"user_id": user, "dimension": dimension, "segment": segment, "since": T,
            "change_id": change_id}


def alert(alert_id: str, user: str, control: bool) -> Row:
    return {"alert_id": alert_id, "user_id": user, "at": T, "churn_risk": 0.75,
            "p_alive": 1e-12, "lifecycle": None, "value_segment": "low",
            "reasons": [{"feature": "recency\t", "weight": -0.5}, {"why": "a\nb"}],
            "offer": {"kind": "coupon", "pct": 10, "text": "é \\ \"x\"", "deep": {"l": [[]]}},
            "categories": ["books", "ü"], "control": control, "model_version": 3,
            "expires_at": T + timedelta(days=7)}


def model_version(version: int, **extra: Any) -> Row:
    details = {"version": version, "auc": 0.5 + version / 100, "drifts": 0, "none": None,
               "candidates": {"a": {"auc": 0.7, "n": 12}}, "unicode": "ß"}
    return {"version": version, "published_at": T, "examples": 100 * version,
            "roc_auc": None, "log_loss": 0.6931471805599453, "base_rate": 0.25, "drifts": 1,
            "details": details, "serving": "blend", "candidates": None,
            "priors": {"r": 0.24, "alpha": 4.4}, **extra}


def steps() -> list[tuple[str, dict[Upsert, list[Row]]]]:
    """Every write, in order: ``("rows", batches)`` through write_rows, ``("aside", ...)``
    through write_or_set_aside."""
    users = [f"u{i}" for i in range(30)] + AWKWARD[:-1]
    first = {
        PROFILES: [profile(u, 10, i) for i, u in enumerate(users)],
        MEMBERSHIPS: [membership(u, d, AWKWARD[i % len(AWKWARD)] or None, f"c{i}")
                      for i, u in enumerate(users[:12]) for d in ("lifecycle", "value")],
        TRANSITIONS: [change(f"c{i}", u, AWKWARD[i % len(AWKWARD)]) for i, u in enumerate(users)],
        ALERTS: [alert(f"a{i}", u, i % 2 == 0) for i, u in enumerate(users[:6])],
        OUTCOMES: [{"alert_id": f"a{i}", "user_id": f"u{i}", "outcome": "purchase",
                    "revenue": FLOATS[i], "at": T, "control": bool(i % 2)} for i in range(5)],
        MODEL_VERSIONS: [model_version(v) for v in (1, 2)],
        REJECTED: [rejection_row(PROFILES, profile("gone\x00", 1), ValueError("NUL\nx"))],
    }
    second = {  # guard: older, equal and newer rows; DO NOTHING on existing keys
        PROFILES: [profile(u, 9 + i % 3, i + 7) for i, u in enumerate(users)],
        MEMBERSHIPS: [membership(u, "lifecycle", "churned", f"d{i}")
                      for i, u in enumerate(users[:6])],
        TRANSITIONS: [change(f"c{i}", u, "other", "changed") for i, u in enumerate(users[:8])],
        ALERTS: [alert("a0", "someone-else", False)],
        MODEL_VERSIONS: [model_version(2, serving="changed"), model_version(3)],
    }
    repeated = {  # several rows of one key in one batch (the sink coalesces; callers may not)
        PROFILES: [profile("u1", 30, 1), profile("u1", 20, 2), profile("u2", 5, 3),
                   profile("u2", 40, 4), profile("u2", 40, 5), profile("dup", 3, 6),
                   profile("dup", 2, 7), profile("u3", 1, 8), profile("u3", 2, 9)],
        UNGUARDED: [profile("u4", 1, 1), profile("u4", 2, 3), profile("v-new", 1, 2)],
        TRANSITIONS: [change("n1", "x", "first"), change("n1", "x", "second"),
                      change("c1", "x", "never")],
        MEMBERSHIPS: [membership("m", "value", "a", "1"), membership("m", "value", "b", "2")],
    }
    fewer_columns = {  # server defaults (sessions, cart_*, source_offset, updated_at)
        PROFILES: [{"user_id": u, "first_seen": T, "last_seen": T, "events": 50,
                    "purchases": 1, "revenue": 2.0} for u in ("u5", "brand-new", "tab\there")],
    }
    refused = {  # refused rows are set aside; the others are written
        PROFILES: [profile("ok1", 1, 1), profile("nul\x00", 1, 2), profile("sur\ud800", 1, 3),
                   profile("long", 1, 4, interest_segment="x" * 129),
                   profile("json-nan", 1, 5, top_categories=[math.nan]),
                   profile("json-surrogate", 1, 6, top_categories=["\ud800"]),
                   profile("int-range", 2 ** 31, 7), profile("naive", 1, 8, last_seen=T.replace(
                       tzinfo=None)), profile("ok2", 1, 9, revenue=7),
                   profile("far-past", 1, 10, first_seen=datetime(1, 1, 1, tzinfo=UTC)),
                   profile("far-future", 1, 11, last_purchase=datetime.max.replace(tzinfo=IST))],
        TRANSITIONS: [change("r1", "u", "s", "r\x00"), change("r2", "u", "s", "fine")],
    }
    return [("rows", first), ("rows", second), ("rows", repeated), ("rows", first),
            ("rows", fewer_columns), ("aside", refused), ("aside", refused)]


def snapshot(url: str, since: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Every table as text, ordered by key; ``now()`` defaults as "set since ``since``"."""
    out = {}
    for table in Base.metadata.sorted_tables:
        cols = [f"{c.name} >= '{since.isoformat()}'" if c.name in ("updated_at", "rejected_at")
                else f"{c.name}::text" for c in table.c]
        keys = ", ".join(c.name for c in table.primary_key.columns)
        out[table.name] = helpers.rows(url, f"SELECT {', '.join(cols)} FROM {table.name} "
                                            f"ORDER BY {keys}")
    return out


def run(url: str, copy: bool) -> list[Any]:
    """Write every step (``copy`` or executemany); what each returned and the tables after."""
    engine = make_engine(url)
    seen: list[Any] = []
    try:
        for how, batches in steps():
            since = datetime.now(UTC)
            if how == "rows":
                seen.append(write_rows(engine, batches, copy=copy))
            else:
                outcome = _aside(engine, batches, copy)
                seen.append((outcome.written, [(s.table.name, r["user_id"] if "user_id" in r
                                                else r, type(e).__name__)
                                               for s, r, e in outcome.rejected]))
            seen.append(snapshot(url, since))
    finally:
        engine.dispose()
    return seen


def _aside(engine: sa.Engine, batches: dict[Upsert, list[Row]], copy: bool) -> Any:
    import streams.storage.row_errors as row_errors

    plain: Callable[..., int] = row_errors.write_rows
    row_errors.write_rows = lambda e, b: plain(e, b, copy=copy)  # type: ignore[assignment]
    try:
        return write_or_set_aside(engine, batches)
    finally:
        row_errors.write_rows = plain  # type: ignore[assignment]


def empty(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text("TRUNCATE " + ", ".join(t.name for t in Base.metadata.sorted_tables)))
    engine.dispose()


def test_write_rows__copy_writes_what_executemany_wrote(
    database: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = run(database, copy=False)
    empty(database)
    copied: list[tuple[str, bool]] = []
    plain = upserts._copy_batch

    def recorded(conn: Any, stages: Any, spec: Upsert, columns: Any, rows: Any) -> bool:
        copied.append((spec.table.name, done := plain(conn, stages, spec, columns, rows)))
        return done

    monkeypatch.setattr(upserts, "_copy_batch", recorded)
    after = run(database, copy=True)
    assert len(after) == len(before) == 2 * len(steps())
    for i, (old, new) in enumerate(zip(before, after, strict=True)):
        assert new == old, f"step {i // 2} ({'tables' if i % 2 else 'returned'}) differs"
    tables = before[-1]
    assert {name for name, rows in tables.items() if rows} >= {s.table.name for s in SPECS}
    rejected = {r[2] for r in tables["rejected_rows"]}
    assert rejected == {"gone\\x00", "nul\\x00", "sur\\ud800", "long", "json-nan",
                        "int-range", "u"}
    # Every batch of the plain steps was copied; a refused row sends its batch (and the
    # halves that hold it) to the executemany path, which refuses it as before.
    plain_batches = sum(len(b) for how, b in steps() if how == "rows")
    assert all(done for _, done in copied[:plain_batches])
    assert not all(done for _, done in copied[plain_batches:])
    assert any(done for table, done in copied[plain_batches:] if table == "user_profiles")


def test_write_rows__copy_path_is_taken_and_rebuilds_a_lost_stage(database: str) -> None:
    engine = make_engine(database, pool_size=1, max_overflow=0)
    stages = "SELECT relname FROM pg_class WHERE relnamespace = pg_my_temp_schema()"
    assert write_rows(engine, {PROFILES: [profile("a", 1)], TRANSITIONS: [change("c", "a", "s")]}
                      ) == 2
    with engine.begin() as conn:
        names = [r[0] for r in conn.execute(sa.text(stages))]
        assert len(names) == 2 and all(n.startswith("lifeline_stage_") for n in names)
        for name in names:  # as if the session's temporary tables were discarded
            conn.execute(sa.text(f'DROP TABLE pg_temp."{name}"'))
    with pytest.raises(sa.exc.ProgrammingError) as lost:
        write_rows(engine, {PROFILES: [profile("b", 1)]})
    assert lost.value.orig.pgcode == "42P01" and classify(lost.value) == "transient"  # type: ignore[union-attr]
    assert write_rows(engine, {PROFILES: [profile("b", 1)]}) == 1  # retried: stage rebuilt
    engine.dispose()
    assert [r[0] for r in helpers.rows(database, "SELECT user_id FROM user_profiles "
                                                 "ORDER BY 1")] == ["a", "b"]


def test_write_rows__a_connection_lost_during_copy_is_transient_and_replaced(
    database: str,
) -> None:
    engine = sa.create_engine(database, pool_size=1, max_overflow=0)  # no pre-ping
    assert write_rows(engine, {PROFILES: [profile("a", 1)]}) == 1  # the stage exists now
    with engine.connect() as conn:
        pid = conn.execute(sa.text("SELECT pg_backend_pid()")).scalar()
    helpers.rows(database, f"SELECT pg_terminate_backend({pid})")
    with pytest.raises(sa.exc.OperationalError) as lost:  # COPY is the first statement sent
        write_rows(engine, {PROFILES: [profile("b", 1)]})
    assert lost.value.connection_invalidated and classify(lost.value) == "transient"
    assert "COPY" in str(lost.value)
    assert write_rows(engine, {PROFILES: [profile("b", 1)]}) == 1  # the sink's retry
    engine.dispose()
    assert len(helpers.rows(database, "SELECT 1 FROM user_profiles")) == 2
