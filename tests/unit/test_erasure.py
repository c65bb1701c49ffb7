"""Erasure's pure parts: every table is covered, requests parse, markers drop old events."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from streams.privacy.erasure import erased_before, parse_request, request_value
from streams.storage.erasure import NO_USER_DATA, count_user_rows, delete_user_rows, user_tables
from streams.storage.schema import Base

pytestmark = pytest.mark.unit


def test_user_tables__every_table_is_erasable_or_declared_free_of_user_data() -> None:
    names = set(Base.metadata.tables)
    erasable = {t.name for t in user_tables()}
    assert erasable | NO_USER_DATA == names and not erasable & NO_USER_DATA
    assert {"user_profiles", "segment_memberships", "segment_transitions", "churn_alerts",
            "winback_outcomes"} <= erasable


def test_delete_user_rows__removes_only_the_named_users_from_every_table() -> None:
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with engine.begin() as conn:
        for table in user_tables():
            for user in ("u-1", "u-2"):
                row = {c.name: _value(c, user, table.name) for c in table.columns
                       if not c.server_default}
                conn.execute(table.insert().values(**row))
    assert set(count_user_rows(engine, ["u-1"]).values()) == {1}
    removed = delete_user_rows(engine, ["u-1"])
    assert removed == {t.name: 1 for t in user_tables()}
    assert set(count_user_rows(engine, ["u-1"]).values()) == {0}
    assert set(count_user_rows(engine, ["u-2"]).values()) == {1}


def _value(column: sa.Column, user: str, table: str) -> object:  # type: ignore[type-arg]
    import datetime

    if column.name == "user_id":
        return user
    if column.primary_key:
        return f"{table}-{user}"
    kind = column.type.python_type
    samples = {str: "x", int: 1, float: 1.0, bool: False, dict: {}, list: [],
               datetime.datetime: datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)}
    return samples.get(kind, "x")


def test_parse_request__round_trip_and_refusals() -> None:
    request = parse_request(request_value("u-1", at=1767225600.0, request_id="r"), now=9.0)
    assert not isinstance(request, str)
    assert (request.user_id, request.at, request.request_id) == ("u-1", 1767225600.0, "r")
    assert parse_request(request_value("u-1", at=5.0), now=9.0) == "bad_at"  # before 1990
    assert parse_request(b"{", now=0.0) == "not_json"
    assert parse_request(b'{"user_id":"u","reason":"whim"}', now=0.0) == "bad_reason"
    assert parse_request(b'{"user_id":"u","at":"never"}', now=0.0) == "bad_at"
    assert parse_request(b'{"user_id":"u","at":"2026-01-01T00:00:00Z"}', now=0.0).at \
        == 1767225600.0  # type: ignore[union-attr]


def test_erased_before__the_erasure_time_itself_is_covered() -> None:
    assert erased_before({"at": 10.0}, 10.0) and not erased_before({"at": 10.0}, 10.001)
