"""Every row of a user, in every table: found from the schema, deleted in one transaction.

A table holds user data when it has a ``user_id`` column; :data:`NO_USER_DATA` names the
tables that do not (tests/unit/test_erasure.py fails when a new table is in neither group).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Engine, Table, func, select

from streams.storage.schema import Base

# Tables without personal data (model quality per version: aggregates only).
NO_USER_DATA = frozenset({"model_versions"})


def user_tables() -> list[Table]:
    """Every table with a ``user_id`` column, in a stable order."""
    return [t for name, t in sorted(Base.metadata.tables.items()) if "user_id" in t.c]


def delete_user_rows(engine: Engine, user_ids: Sequence[str]) -> dict[str, int]:
    """Delete every row of ``user_ids`` from every user table; returns rows per table."""
    removed: dict[str, int] = {}
    with engine.begin() as conn:
        for table in user_tables():
            result = conn.execute(table.delete().where(table.c.user_id.in_(list(user_ids))))
            removed[table.name] = int(result.rowcount or 0)
    return removed


def count_user_rows(engine: Engine, user_ids: Sequence[str]) -> dict[str, int]:
    """Rows of ``user_ids`` per user table (for receipts' checks and tests)."""
    with engine.connect() as conn:
        return {table.name: int(conn.execute(
                    select(func.count()).select_from(table)
                    .where(table.c.user_id.in_(list(user_ids)))).scalar_one())
                for table in user_tables()}
