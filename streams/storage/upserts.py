"""Declarative upserts: how rows of one table are written, idempotently, in one transaction."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from sqlalchemy import Engine, Table, func
from sqlalchemy.dialects import postgresql, sqlite

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
