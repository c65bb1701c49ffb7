"""Database errors by class: transient ones are retried, bad rows are set aside, never block.

A flush writes many users' rows in one transaction. When PostgreSQL (or the driver) refuses
the data itself (a NUL in a string, a value longer than its column, an out-of-range number,
a violated constraint), retrying the same batch can never succeed and would stop every user of
the worker. :func:`write_or_set_aside` then splits the batch in halves until each refused row
stands alone (bisection: about ``2 k log2(n)`` extra transactions for ``k`` bad rows among
``n``), writes every good row, and records each bad one in ``rejected_rows`` with its reason.
Any other error (connection lost, timeout, serialization failure, deadlock, a missing table)
is transient: it propagates, and the sink retries the whole flush with backoff.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Literal, cast

import orjson
from sqlalchemy import Engine, Table
from sqlalchemy.exc import DBAPIError, StatementError

from streams.storage.schema import RejectedRow
from streams.storage.upserts import Row, Upsert, write_rows

log = logging.getLogger(__name__)

# SQLSTATE classes of errors in the data itself: 22 data exception (too long, out of range,
# invalid text), 23 integrity constraint violation. Everything else is retried.
DATA_SQLSTATE_CLASSES = ("22", "23")
REJECTED = Upsert(cast(Table, RejectedRow.__table__), ("rejection_id",), update=False)
TEXT_MAX = 512  # characters kept of each string of a rejected row


def classify(exc: BaseException) -> Literal["data", "transient"]:
    """``"data"`` when the rows themselves were refused, else ``"transient"``.

    >>> classify(ValueError("A string literal cannot contain NUL (0x00) characters."))
    'data'
    >>> classify(ConnectionResetError()), classify(TimeoutError())
    ('transient', 'transient')
    """
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
        if code:
            return "data" if str(code)[:2] in DATA_SQLSTATE_CLASSES else "transient"
        name = type(exc).__name__  # SQLite and drivers without SQLSTATE
        return "data" if name in ("DataError", "IntegrityError") else "transient"
    if isinstance(exc, StatementError):  # a bind parameter the driver could not convert
        exc = exc.orig if exc.orig is not None else exc
    if isinstance(exc, (ValueError, TypeError, OverflowError, UnicodeError)):
        return "data"  # psycopg2 refuses NUL in strings with a bare ValueError
    return "transient"


def reason_of(exc: BaseException) -> str:
    """A short machine-readable reason: ``sqlstate:22001``, ``driver:ValueError``, ...

    >>> reason_of(ValueError("x"))
    'driver:ValueError'
    """
    if isinstance(exc, DBAPIError):
        code = getattr(exc.orig, "pgcode", None) or getattr(exc.orig, "sqlstate", None)
        return f"sqlstate:{code}" if code else f"database:{type(exc).__name__}"
    if isinstance(exc, StatementError) and exc.orig is not None:
        exc = exc.orig
    return f"driver:{type(exc).__name__}"


def visible(text: str, limit: int = TEXT_MAX) -> str:
    """``text`` with control characters escaped, cut to ``limit`` characters (length noted).

    >>> visible("a\\x00b"), visible("x" * 10, 4)
    ('a\\\\x00b', 'xxxx...[10 chars]')
    """
    out = "".join(c if (31 < ord(c) != 127 and not 0xD800 <= ord(c) <= 0xDFFF)
                  else f"\\x{ord(c):02x}" if ord(c) < 256 else f"\\u{ord(c):04x}"
                  for c in text[:limit])
    return out if len(text) <= limit else f"{out}...[{len(text)} chars]"


def safe(value: Any) -> Any:
    """A bounded, JSON- and PostgreSQL-safe copy of a row value (for ``rejected_rows.row``)."""
    if isinstance(value, str):
        return visible(value)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return value if -(2 ** 63) <= value < 2 ** 63 else visible(str(value))
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {visible(str(k), 64): safe(v) for k, v in list(value.items())[:50]}
    if isinstance(value, (list, tuple)):
        return [safe(v) for v in value[:50]]
    return visible(repr(value))


@dataclass
class Outcome:
    """What a flush did: rows written and rows set aside (with the table they were for)."""

    written: int = 0
    rejected: list[tuple[Upsert, Row, BaseException]] = field(default_factory=list)


def _grouped(items: Sequence[tuple[Upsert, Row]]) -> dict[Upsert, list[Row]]:
    out: dict[Upsert, list[Row]] = {}
    for spec, row in items:
        out.setdefault(spec, []).append(row)
    return out


def _split(engine: Engine, items: Sequence[tuple[Upsert, Row]], exc: BaseException,
           outcome: Outcome) -> None:
    if len(items) == 1:
        outcome.rejected.append((items[0][0], items[0][1], exc))
        return
    mid = len(items) // 2
    for half in (items[:mid], items[mid:]):
        try:
            outcome.written += write_rows(engine, _grouped(half))
        except Exception as err:
            if classify(err) != "data":
                raise
            _split(engine, half, err, outcome)


def rejection_row(spec: Upsert, row: Row, exc: BaseException) -> Row:
    """The ``rejected_rows`` row of one refused row; its id is deterministic (a replay of the
    same flush records it once)."""
    table = spec.table.name
    kept = safe(row)
    key = {k: kept.get(k) for k in spec.keys}
    user = kept.get("user_id")
    rid = hashlib.sha256(orjson.dumps([table, safe(row)], option=orjson.OPT_SORT_KEYS,
                                      default=str)).hexdigest()
    detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return {"rejection_id": rid, "table_name": table,
            "user_id": user[:256] if isinstance(user, str) else None,
            "row_key": orjson.dumps(key, default=str).decode(), "reason": reason_of(exc),
            "detail": visible(detail, 1000), "row": kept}


def write_or_set_aside(engine: Engine, batches: Mapping[Upsert, Sequence[Row]]) -> Outcome:
    """Write every batch; on a data error, bisect, write the good rows, set the bad ones aside.

    Transient errors propagate (the caller retries; every write here is an idempotent upsert,
    so rows written before the error are simply written again).
    """
    outcome = Outcome()
    try:
        outcome.written = write_rows(engine, batches)
        return outcome
    except Exception as exc:
        if classify(exc) != "data":
            raise
        items = [(spec, row) for spec, rows in batches.items() for row in rows]
        _split(engine, items, exc, outcome)
    records = [rejection_row(spec, row, exc) for spec, row, exc in outcome.rejected]
    try:
        write_rows(engine, {REJECTED: records})
    except Exception as exc:
        if classify(exc) != "data":
            raise
        log.error("sink: could not record %d rejected rows: %s", len(records), exc)
    for record in records:
        log.error("sink: set aside a %s row (key %s): %s %s", record["table_name"],
                  record["row_key"], record["reason"], record["detail"])
    return outcome
