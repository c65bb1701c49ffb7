"""`python -m streams report` on the demo's embedded database (SQLite through the same code)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from streams.cli.admin import migrate
from streams.cli.report import report_text
from streams.settings import Settings
from streams.storage.schema import SegmentTransition

pytestmark = pytest.mark.integration


def test_report_text__last_day_of_transitions_on_sqlite(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'lifeline.db'}"
    migrate(url)
    rows = [("c1", "u1", "lifecycle", "active", "at_risk", datetime(1998, 6, 1, tzinfo=UTC)),
            ("c2", "u2", "lifecycle", "at_risk", "churned", datetime(1998, 6, 30, tzinfo=UTC)),
            ("c3", "u3", "lifecycle", "at_risk", "churned", datetime(1998, 6, 30, 8,
                                                                     tzinfo=UTC))]
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(SegmentTransition), [
            {"change_id": c, "user_id": u, "dimension": d, "from_segment": a, "to_segment": b,
             "at": at, "reason": "test"} for c, u, d, a, b, at in rows])
    engine.dispose()
    text = report_text(Settings.from_env({"LIFELINE_DATABASE_URL": url}))
    assert "(to 1998-06-30 08:00:00" in text
    assert "at_risk -> churned" in text and "active -> at_risk" not in text
    line = next(x for x in text.splitlines() if "at_risk -> churned" in x)
    assert line.split()[-1] == "2"
