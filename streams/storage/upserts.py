"""Declarative upserts: how rows of one table are written, idempotently, in one transaction.

On PostgreSQL (psycopg2) each batch is staged with ``COPY`` and upserted from the stage (see
:func:`write_rows`); on SQLite it is one ``INSERT .. ON CONFLICT`` executemany. Both write the
same rows: the statement that resolves conflicts (guard, ``updated_at``, ``DO NOTHING``) is
built by one function, :func:`_statement`, for both.

The stage of a table and column set is a temporary table of the connection
(``lifeline_stage_<table>_<digest>``: the given columns with the table's types, strings as
``text``, aware datetimes as ``bigint`` microseconds, no constraints or defaults; ``ON
COMMIT DELETE ROWS``), created on first use and remembered in the pooled connection's
``info``; after any error in a write it is created again (``IF NOT EXISTS``) by the next
one, so a session that lost its temporary tables heals on the sink's retry.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from json.encoder import encode_basestring_ascii
from operator import call, itemgetter
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Connection,
    DateTime,
    Engine,
    Float,
    Integer,
    String,
    Table,
    Text,
    cast,
    func,
    literal_column,
    null,
    select,
)
from sqlalchemy import table as table_clause
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import column as column_clause

Row = dict[str, Any]


@dataclass(frozen=True)
class Upsert:
    """How rows of one table are written.

    ``keys`` is the natural/deterministic key; ``guard`` (optional) is a monotonic column:
    a row never overwrites a stored row whose guard is larger (an older in-flight write
    after a rebalance cannot undo a newer one). ``update=False`` inserts once, never updates.
    :meth:`key_of` gives a row's key (a value for one key column, a tuple for more).
    """

    table: Table
    keys: tuple[str, ...]
    guard: str | None = None
    update: bool = True
    # Computed once: a spec is hashed and a row's key read for every buffered row.
    _hash: int = field(init=False, repr=False, compare=False)
    key_of: Callable[[Row], Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_hash", hash((self.table, self.keys, self.guard, self.update)))
        object.__setattr__(self, "key_of", itemgetter(*self.keys))

    def __hash__(self) -> int:
        return self._hash


def _statement(spec: Upsert, dialect_name: str, columns: tuple[str, ...],
               source: Any = None) -> Any:
    """``INSERT .. ON CONFLICT`` of ``columns``: of bound rows, or of the rows of the
    ``source`` select (``INSERT .. SELECT`` from the COPY stage)."""
    dialect = postgresql if dialect_name == "postgresql" else sqlite
    stmt = dialect.insert(spec.table)
    if source is not None:
        stmt = stmt.from_select(list(columns), source)
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


def write_rows(engine: Engine, batches: Mapping[Upsert, Sequence[Row]], *,
               copy: bool = True) -> int:
    """Upsert every batch in one transaction (PostgreSQL or SQLite). Returns rows written
    (the rows given, duplicates of a key included).

    On PostgreSQL (``copy=True``) a batch is sent with ``COPY`` into a temporary stage table
    of the connection, then ``INSERT .. SELECT .. ON CONFLICT`` from the stage: two round trips
    and one compact text buffer formatted by :func:`copy_text`, instead of a whole statement
    rendered per row. Several rows of one key in a batch are first reduced to the row the
    row-by-row upsert would have left (the last, the first for ``update=False``, by the guard
    when there is one), since one ``INSERT .. SELECT`` cannot touch a row twice. A batch the
    formatter cannot render exactly (a NUL in a string, a lone surrogate, a string longer
    than its column, an integer out of its column's range, a value of an unexpected type,
    rows with missing columns) takes the ``copy=False`` path instead, which reports the same
    errors as before. ``copy=False`` (and SQLite) executes the statement with all its rows
    (psycopg2's ``execute_batch`` on PostgreSQL, see :func:`~streams.storage.schema.make_engine`).
    """
    written = 0
    dialect = engine.dialect.name
    stages: _Stages | None = None
    try:
        with engine.begin() as conn:
            if copy and dialect == "postgresql":
                stages = _Stages.of(conn)
            for spec, rows in batches.items():
                if not rows:
                    continue
                columns = tuple(rows[0])
                if stages is None or not _copy_batch(conn, stages, spec, columns, rows):
                    key = (spec, dialect, columns)
                    stmt = _STATEMENTS.get(key)
                    if stmt is None:
                        stmt = _STATEMENTS[key] = _statement(spec, dialect, columns)
                    conn.execute(stmt, list(rows))
                written += len(rows)
    except BaseException:
        if stages is not None:
            stages.forget()  # the next transaction creates its stages again (IF NOT EXISTS)
        raise
    if stages is not None:
        stages.committed()
    return written


# ------------------------------------------------------------------------- COPY formatting


class Unsupported(ValueError):
    """A value the COPY formatter does not render exactly (that batch takes the
    executemany path, which accepts or refuses it as it always did)."""


NULL = "\\N"  # COPY text format
_INT32 = 2 ** 31
_INT64 = 2 ** 63
_FLOAT_EXACT_INT = 2 ** 53
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_json_encode = json.JSONEncoder(allow_nan=False).encode  # json.dumps, refusing NaN
_json_string = encode_basestring_ascii  # what that encoder does with a str


def copy_string(value: str) -> str:
    """``value`` escaped for COPY's text format (backslash, tab, newline, carriage return).

    >>> print(copy_string("a\\tb\\\\c\\nd"))
    a\\tb\\\\c\\nd
    """
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return (value.replace("\\", "\\\\").replace("\t", "\\t")
                .replace("\n", "\\n").replace("\r", "\\r"))
    return value


def _string(length: int | None) -> Callable[[Any], str]:
    def fmt(v: Any) -> str:
        if v is None:
            return NULL
        # A str subclass (SQLAlchemy's quoted_name, a StrEnum) is sent as its characters.
        if not isinstance(v, str) or (length is not None and len(v) > length):
            raise Unsupported(v)
        return copy_string(v)
    return fmt


def _integer(bound: int) -> Callable[[Any], str]:
    def fmt(v: Any) -> str:
        if type(v) is int and -bound <= v < bound:
            return str(v)
        if v is None:
            return NULL
        raise Unsupported(v)
    return fmt


def _float(v: Any) -> str:
    if type(v) is float:
        if v - v == 0:  # finite
            # The executemany path sends a numeric literal: -0.0 arrives as 0.
            return repr(v) if v else "0"
        if v != v:
            return "NaN"
        return "Infinity" if v > 0 else "-Infinity"
    if v is None:
        return NULL
    if type(v) is int and -_FLOAT_EXACT_INT <= v <= _FLOAT_EXACT_INT:
        return str(v)
    raise Unsupported(v)


def _boolean(v: Any) -> str:
    if v is True:
        return "t"
    if v is False:
        return "f"
    if v is None:
        return NULL
    raise Unsupported(v)


def instant(v: Any) -> str:
    """An aware datetime as whole microseconds since the Unix epoch.

    The stage holds them as ``bigint``; the upsert adds them to ``'epoch'`` (exact integer
    arithmetic, whatever the session's time zone): the instant psycopg2's
    ``'<isoformat>'::timestamptz`` names, at about a quarter of the cost of ``isoformat()``. Naive
    datetimes (whose instant depends on the session's time zone) and microsecond counts a
    double does not hold exactly (before 1685 or after 2255) are not rendered.

    >>> from datetime import timezone
    >>> instant(datetime(1970, 1, 1, 0, 0, 1, 5, tzinfo=timezone(timedelta(hours=1))))
    '-3598999995'
    """
    if type(v) is datetime:
        micros = (v - _EPOCH) // _MICROSECOND  # TypeError when naive
        if -_FLOAT_EXACT_INT <= micros <= _FLOAT_EXACT_INT:
            return str(micros)
    elif v is None:
        return NULL
    raise Unsupported(v)


def _json(none_as_null: bool) -> Callable[[Any], str]:
    def fmt(v: Any) -> str:
        if v is None:
            return NULL if none_as_null else "null"
        if v is JSON.NULL:
            raise Unsupported(v)
        # What SQLAlchemy's JSON type binds (json.dumps); NaN and Infinity are not JSON.
        if type(v) is list:
            try:  # a list of strings (top categories) as json's encoder writes it
                text = "[" + ", ".join(map(_json_string, v)) + "]"
            except TypeError:
                text = _json_encode(v)
        else:
            text = _json_encode(v)
        return copy_string(text)
    return fmt


def formatter(type_: Any) -> Callable[[Any], str] | None:
    """The COPY text of a value of a column of SQLAlchemy type ``type_`` (None: a type the
    formatter does not know; its rows take the executemany path).

    >>> fmt = formatter(Float())
    >>> [fmt(v) for v in (1.5, None, float("nan"), -0.0, 3)]
    ['1.5', '\\\\N', 'NaN', '0', '3']
    >>> formatter(JSON())({"a": "x\\ty"})
    '{"a": "x\\\\\\\\ty"}'
    """
    kind = type(type_)
    if kind in (String, Text):
        return _string(type_.length)
    if kind is Integer:
        return _integer(_INT32)
    if kind is BigInteger:
        return _integer(_INT64)
    if kind is Float:
        return _float
    if kind is Boolean:
        return _boolean
    if kind is DateTime and type_.timezone:
        return instant
    if kind is JSON:
        return _json(type_.none_as_null)
    return None


def copy_text(formats: Sequence[Callable[[Any], str]], columns: tuple[str, ...],
              rows: Sequence[Row]) -> bytes:
    """The rows as COPY text-format data (UTF-8): one line per row, tab-separated.

    Raises :class:`Unsupported` (or the KeyError, TypeError, ValueError,
    UnicodeEncodeError of a value) when a row cannot be rendered exactly: NUL in a string,
    a lone surrogate, a missing column, a value of another type than its column's.

    >>> copy_text([formatter(Integer()), formatter(String(8))], ("n", "s"),
    ...           [{"n": 1, "s": "a\\tb"}, {"n": None, "s": "é"}])
    b'1\\ta\\\\tb\\n\\\\N\\t\\xc3\\xa9\\n'
    """
    get = itemgetter(*columns)
    if len(columns) == 1:
        fmt = formats[0]
        lines = [fmt(get(row)) for row in rows]
    else:
        join = "\t".join
        lines = [join(map(call, formats, get(row))) for row in rows]
    text = "\n".join(lines)
    if "\x00" in text:  # COPY has no escape for NUL: psycopg2 refuses it in a string too
        raise Unsupported("NUL")
    return (text + "\n").encode("utf-8")  # strict: a lone surrogate raises


# ---------------------------------------------------------------------------- COPY writing


@dataclass(frozen=True)
class _Plan:
    """How one table and column set is copied: its stage and statements."""

    stage: str
    create: str
    clear: str
    copy: str
    insert: Any
    formats: tuple[Callable[[Any], str], ...]


_PLANS: dict[tuple[Upsert, tuple[str, ...]], _Plan | None] = {}
_STAGES_KEY = "lifeline_copy_stages"  # in a pooled connection's info: its stage tables


def _plan(spec: Upsert, columns: tuple[str, ...], dialect: Any) -> _Plan | None:
    key = (spec, columns)
    if key in _PLANS:
        return _PLANS[key]
    plan = None
    table = spec.table
    formats = [formatter(table.c[c].type) if c in table.c else None for c in columns]
    if all(f is not None for f in formats) and columns:
        digest = hashlib.sha256(repr((table.schema, table.name, columns)).encode())
        stage = f"lifeline_stage_{table.name[:24]}_{digest.hexdigest()[:12]}"
        quote = dialect.identifier_preparer.quote
        strings = {c for c in columns if type(table.c[c].type) in (String, Text)}
        staged = table_clause(stage, *[column_clause(c) for c in columns], schema="pg_temp")
        # Only the columns given, with their types (strings as text, instants as bigint
        # microseconds) and no constraints or defaults: NULL, length and defaults are
        # decided by the INSERT into the table, as before.
        shape = select(*[cast(null(), BigInteger).label(c) if f is instant
                         else cast(null(), Text).label(c) if c in strings else table.c[c]
                         for c, f in zip(columns, formats, strict=True)])
        create = (f"CREATE TEMPORARY TABLE IF NOT EXISTS {quote(stage)} ON COMMIT DELETE ROWS "
                  f"AS {shape.compile(dialect=dialect)} WITH NO DATA")
        copy = (f"COPY pg_temp.{quote(stage)} ({', '.join(quote(c) for c in columns)}) "
                "FROM STDIN")
        values = select(*[literal_column(
            f"TIMESTAMPTZ 'epoch' + pg_temp.{quote(stage)}.{quote(c)} * INTERVAL '1 microsecond'"
        ) if f is instant else staged.c[c] for c, f in zip(columns, formats, strict=True)])
        insert = _statement(spec, "postgresql", columns, source=values.select_from(staged))
        clear = f"DELETE FROM pg_temp.{quote(stage)}"
        plan = _Plan(stage, create, clear, copy, insert,
                     tuple(f for f in formats if f is not None))
    _PLANS[key] = plan
    return plan


class _Stages:
    """The stage tables of one pooled connection: created once per connection (temporary,
    emptied at every commit), remembered in the connection's ``info``."""

    def __init__(self, known: set[str]) -> None:
        self.known = known
        self.created: set[str] = set()
        self.used: set[str] = set()

    @classmethod
    def of(cls, conn: Connection) -> _Stages | None:
        raw = conn.connection.dbapi_connection
        if conn.dialect.driver != "psycopg2" or getattr(raw, "encoding", None) != "UTF8":
            return None  # copy_expert is psycopg2's; the text is encoded as UTF-8
        known = conn.connection.info.setdefault(_STAGES_KEY, set())
        return cls(known)

    def committed(self) -> None:
        self.known.update(self.created)

    def forget(self) -> None:
        self.known.clear()


def one_per_key(spec: Upsert, rows: Sequence[Row]) -> Sequence[Row] | None:
    """The rows, one per key: what executing them one by one would leave (None: a guard
    that is not an int among repeated keys; the executemany path decides)."""
    key_of = spec.key_of
    last = {key_of(row): row for row in rows}
    if len(last) == len(rows):
        return rows
    if not spec.update:  # DO NOTHING: the first row of a key is the one inserted
        first: dict[Any, Row] = {}
        for row in rows:
            first.setdefault(key_of(row), row)
        return list(first.values())
    if spec.guard is None:
        return list(last.values())
    guard = spec.guard
    kept: dict[Any, Row] = {}
    for row in rows:
        value = row[guard]
        if type(value) is not int:
            return None
        key = key_of(row)
        previous = kept.get(key)
        # A later row replaces an earlier one when the guard lets it (``stored <= new``);
        # the survivor then meets the stored row under the same rule.
        if previous is None or previous[guard] <= value:
            kept[key] = row
    return list(kept.values())


def _copy_batch(conn: Connection, stages: _Stages, spec: Upsert, columns: tuple[str, ...],
                rows: Sequence[Row]) -> bool:
    """COPY one batch into its stage and upsert from there; False when the batch must take
    the executemany path (nothing was sent then)."""
    plan = _plan(spec, columns, conn.dialect)
    if plan is None:
        return False
    try:
        unique = one_per_key(spec, rows)
        if unique is None:
            return False
        data = copy_text(plan.formats, columns, unique)
    except Exception:  # any value the formatter does not render exactly
        return False
    if plan.stage not in stages.known and plan.stage not in stages.created:
        conn.exec_driver_sql(plan.create)
        stages.created.add(plan.stage)
    elif plan.stage in stages.used:  # a second spec of the same table and columns
        conn.exec_driver_sql(plan.clear)
    stages.used.add(plan.stage)
    raw = conn.connection.dbapi_connection
    assert raw is not None
    cursor = raw.cursor()
    try:
        cursor.copy_expert(plan.copy, io.BytesIO(data), size=max(len(data), 8192))
    except conn.dialect.loaded_dbapi.Error as exc:
        # Wrapped as SQLAlchemy wraps a failed execute: row_errors.classify reads SQLSTATE.
        invalidated = conn.dialect.is_disconnect(exc, raw, None)
        if invalidated:
            conn.invalidate(exc)
        raise DBAPIError.instance(plan.copy, None, exc, conn.dialect.loaded_dbapi.Error,
                                  connection_invalidated=invalidated,
                                  dialect=conn.dialect) from exc
    finally:
        cursor.close()
    conn.execute(plan.insert)
    return True
