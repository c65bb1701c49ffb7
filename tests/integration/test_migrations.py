"""The migrations themselves on real PostgreSQL: upgrade, models match, downgrade, upgrade."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext

from streams.cli.admin import MIGRATIONS, migrate
from streams.storage.schema import Base
from tests.integration.helpers import rows

pytestmark = pytest.mark.integration


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def schema_differences(url: str) -> list[object]:
    """What ``alembic revision --autogenerate`` would write: the models against the database
    (column types and server defaults compared too)."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn, opts={"compare_type": True, "compare_server_default": True})
            return list(compare_metadata(context, Base.metadata))
    finally:
        engine.dispose()


def leftovers(url: str) -> dict[str, list[str]]:
    """Tables, sequences and user-defined types left in the database (public schema)."""
    tables = [r[0] for r in rows(url, "SELECT tablename FROM pg_tables "
                                      "WHERE schemaname = 'public' ORDER BY 1")]
    sequences = [r[0] for r in rows(url, "SELECT sequence_name FROM "
                                         "information_schema.sequences ORDER BY 1")]
    types = [r[0] for r in rows(url, "SELECT t.typname FROM pg_type t JOIN pg_namespace n "
                                     "ON n.oid = t.typnamespace WHERE n.nspname = 'public' "
                                     "AND t.typtype IN ('e', 'd', 'c') AND t.typrelid = 0 "
                                     "ORDER BY 1")]
    return {"tables": tables, "sequences": sequences, "types": types}


def test_migrations__upgrade_head_matches_the_models_and_downgrade_base_removes_all(
    empty_database: str,
) -> None:
    url = empty_database
    migrate(url)
    assert set(Base.metadata.tables) <= set(leftovers(url)["tables"])
    assert schema_differences(url) == [], "the ORM models and the migrations disagree"
    head = rows(url, "SELECT version_num FROM alembic_version")
    assert len(head) == 1

    command.downgrade(alembic_config(url), "base")
    # Alembic keeps its (now empty) bookkeeping table; nothing of Lifeline's remains.
    assert leftovers(url) == {"tables": ["alembic_version"], "sequences": [], "types": []}
    assert rows(url, "SELECT version_num FROM alembic_version") == []

    migrate(url)  # and back up: the downgrade left nothing in the way
    assert schema_differences(url) == []
    assert rows(url, "SELECT version_num FROM alembic_version") == head
