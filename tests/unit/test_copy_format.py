"""Unit tests for the sink's COPY formatting (streams/storage/upserts.py), without a database.

Each value must reach PostgreSQL as what the executemany path sent: COPY text is decoded
here as PostgreSQL decodes it, JSON compared with SQLAlchemy's own bind processor.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, cast
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from streams.storage.schema import Base
from streams.storage.upserts import (
    NULL,
    Unsupported,
    Upsert,
    copy_string,
    copy_text,
    formatter,
    instant,
    one_per_key,
)

pytestmark = pytest.mark.unit

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STRINGS = ["", "plain", "tab\there", "line\nbreak", "cr\r", "back\\slash", "\\N", "\\.",
           "end\\", "\\\\t", "unicodé ✓ 😀 漢字", "\x01\x07\x1b\x7f", "NULL", "'\"", " pad "]


def decoded(field: str) -> str | None:
    """One field of COPY text format as PostgreSQL reads it (the escapes we produce)."""
    if field == NULL:
        return None
    out, i = [], 0
    while i < len(field):
        c = field[i]
        if c == "\\":
            nxt = field[i + 1]
            out.append({"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[nxt])
            i += 2
        else:
            assert c not in "\t\n\r", f"unescaped {c!r} in {field!r}"
            out.append(c)
            i += 1
    return "".join(out)


def psycopg2_json(value: Any, none_as_null: bool = False) -> str | None:
    """What the executemany path binds for a JSON column."""
    process = sa.JSON(none_as_null=none_as_null).bind_processor(postgresql.psycopg2.dialect())
    assert process is not None
    return cast(str | None, process(value))


def test_copy_string__decodes_back_to_the_string() -> None:
    rng = random.Random(7)
    alphabet = "ab\\\t\n\r\x01 é😀N."
    samples = STRINGS + ["".join(rng.choices(alphabet, k=rng.randint(0, 12)))
                         for _ in range(2000)]
    for s in samples:
        assert decoded(copy_string(s)) == s


@pytest.mark.parametrize("value", [
    None, [], ["books", "garden"], ["é", "\\", "\t\n", "\"q\"", "😀", "\ud800"], {},
    {"a": {"b": [1, 2.5, None, True, False, "x\ty"]}, "ü": -0.0, "n": 10 ** 20},
    [{"nested": [[], {}]}], "just a string", 3, 1.5, True, {1: "int key"}, ("tu", "ple"),
    ["mixed", 1], [None],
])
def test_json__is_what_sqlalchemy_binds(value: Any) -> None:
    for none_as_null in (False, True):
        fmt = formatter(sa.JSON(none_as_null=none_as_null))
        assert fmt is not None
        assert decoded(fmt(value)) == psycopg2_json(value, none_as_null)


@pytest.mark.parametrize("value", [math.nan, [math.inf], {"x": -math.inf}, sa.JSON.NULL,
                                   object(), {"s": {1, 2}}])
def test_json__refuses_what_json_or_sqlalchemy_would_not_send_as_is(value: Any) -> None:
    fmt = formatter(sa.JSON())
    assert fmt is not None
    with pytest.raises((Unsupported, TypeError, ValueError)):
        fmt(value)


def test_float__exact_and_special_values() -> None:
    fmt = formatter(sa.Float())
    assert fmt is not None
    rng = random.Random(3)
    finite = [0.1 + 0.2, 1 / 3, 1e300, 5e-324, -1.5, 2.5e-8, 1e16, 123456789.125,
              *(rng.uniform(-1e6, 1e6) for _ in range(500)),
              *(math.ldexp(rng.random(), rng.randint(-1070, 1020)) for _ in range(500))]
    for v in finite:
        text = fmt(v)
        assert float(text) == v and text != "-0"
    assert [fmt(v) for v in (math.nan, math.inf, -math.inf, 0.0, -0.0, None, 7, -(2 ** 53))] \
        == ["NaN", "Infinity", "-Infinity", "0", "0", NULL, "7", str(-(2 ** 53))]
    for bad in (True, 2 ** 53 + 1, "1.5", None.__class__):
        with pytest.raises(Unsupported):
            fmt(bad)


@pytest.mark.parametrize(("type_", "bits"), [(sa.Integer(), 32), (sa.BigInteger(), 64)])
def test_integer__in_range_only(type_: Any, bits: int) -> None:
    fmt = formatter(type_)
    assert fmt is not None
    low, high = -(2 ** (bits - 1)), 2 ** (bits - 1) - 1
    assert [fmt(v) for v in (low, -1, 0, high, None)] == [str(low), "-1", "0", str(high), NULL]
    for bad in (low - 1, high + 1, True, 1.0, "1"):
        with pytest.raises(Unsupported):
            fmt(bad)


def test_boolean_and_strings() -> None:
    boolean, short, text = formatter(sa.Boolean()), formatter(sa.String(4)), formatter(sa.Text())
    assert boolean is not None and short is not None and text is not None
    assert [boolean(v) for v in (True, False, None)] == ["t", "f", NULL]
    for bad in (1, 0, "t"):
        with pytest.raises(Unsupported):
            boolean(bad)
    assert short("abcd") == "abcd" and short(None) == NULL and decoded(short("a\tb")) == "a\tb"
    assert short(sa.sql.quoted_name("ab", None)) == "ab"  # a str subclass: its characters
    for bad in ("abcde", "abc  ", 12, b"ab"):  # too long (even trailing spaces): executemany
        with pytest.raises(Unsupported):
            short(bad)
    assert decoded(text("x" * 10_000 + "\\")) == "x" * 10_000 + "\\"


def test_instant__is_the_exact_microsecond_of_an_aware_datetime() -> None:
    assert formatter(sa.DateTime(timezone=True)) is instant
    zones = [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(-timedelta(seconds=3601)),
             ZoneInfo("America/New_York"), ZoneInfo("Australia/Lord_Howe")]
    rng = random.Random(5)
    for _ in range(3000):
        micros = rng.randint(-(2 ** 53), 2 ** 53)
        zone = rng.choice(zones)
        value = (EPOCH + timedelta(microseconds=micros)).astimezone(zone)
        assert int(instant(value)) == micros
    for fold in (0, 1):  # an hour that happens twice: the offset of isoformat() is the one used
        twice = datetime(2025, 11, 2, 1, 30, fold=fold, tzinfo=ZoneInfo("America/New_York"))
        assert EPOCH + timedelta(microseconds=int(instant(twice))) == \
            datetime.fromisoformat(twice.isoformat())
    assert instant(None) == NULL
    for bad in (datetime(2026, 1, 1), datetime(1, 1, 1, tzinfo=UTC),
                datetime.max.replace(tzinfo=UTC), "2026-01-01T00:00:00+00:00"):
        with pytest.raises((Unsupported, TypeError)):
            instant(bad)


def test_formatter__knows_every_column_type_of_the_schema() -> None:
    unknown = [f"{t.name}.{c.name}" for t in Base.metadata.sorted_tables for c in t.c
               if formatter(c.type) is None and c.server_default is None]
    assert unknown == []
    for other in (sa.Numeric(), sa.SmallInteger(), sa.DateTime(), sa.Date(), sa.LargeBinary(),
                  postgresql.JSONB()):
        assert formatter(other) is None  # their batches take the executemany path


def test_copy_text__lines_and_refusals() -> None:
    formats = [formatter(sa.Integer()), formatter(sa.String(20)), formatter(sa.JSON())]
    assert all(f is not None for f in formats)
    fmts = cast(list[Any], formats)
    cols = ("n", "s", "j")
    rows = [{"n": i, "s": s, "j": [s], "extra": object()} for i, s in enumerate(STRINGS)]
    lines = copy_text(fmts, cols, rows).decode().split("\n")
    assert lines[-1] == "" and len(lines) == len(rows) + 1
    for row, line in zip(rows, lines, strict=False):
        n, s, j = (decoded(f) for f in line.split("\t"))
        assert (n, s, j) == (str(row["n"]), row["s"], psycopg2_json(row["j"]))
    for bad, error in [({"n": 1, "s": "nul\x00"}, Unsupported),
                       ({"n": 1, "s": "lone \ud800"}, UnicodeEncodeError),
                       ({"n": 1}, KeyError)]:
        with pytest.raises(error):
            copy_text(fmts[:2], cols[:2], [{"n": 0, "s": "fine"}, bad])


def test_one_per_key__leaves_what_row_by_row_upserts_leave() -> None:
    table = sa.Table("t", sa.MetaData(), sa.Column("k", sa.String, primary_key=True),
                     sa.Column("g", sa.Integer), sa.Column("v", sa.Integer))
    rng = random.Random(11)
    for spec in (Upsert(table, ("k",), guard="g"), Upsert(table, ("k",)),
                 Upsert(table, ("k",), update=False)):
        for _ in range(400):
            rows = [{"k": rng.choice("abc"), "g": rng.randint(0, 4), "v": i}
                    for i in range(rng.randint(1, 8))]
            stored = {k: {"k": k, "g": rng.randint(0, 4), "v": -1}
                      for k in "abc" if rng.random() < 0.5}
            assert applied(spec, stored, one_per_key(spec, rows) or []) == \
                applied(spec, stored, rows)
    guarded = Upsert(table, ("k",), guard="g")
    assert one_per_key(guarded, [{"k": "a", "g": 1.0}, {"k": "a", "g": 2}]) is None
    unique = [{"k": "a", "g": None}, {"k": "b", "g": "x"}]
    assert one_per_key(guarded, unique) is unique  # no repeated key: nothing to decide


def applied(spec: Upsert, stored: dict[str, Any], rows: Any) -> dict[str, Any]:
    """``INSERT .. ON CONFLICT`` of each row in turn, as the executemany path runs them."""
    table = dict(stored)
    for row in rows:
        old = table.get(row["k"])
        if old is None or (spec.update and (spec.guard is None
                                            or old[spec.guard] <= row[spec.guard])):
            table[row["k"]] = row
    return table
