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


def test_report_text__shows_every_churn_candidate_and_the_one_serving(tmp_path: Path) -> None:
    from online_models.bundle import ModelBundle
    from online_models.training import ChurnLabel
    from streams.runtime.outputs import model_version_row
    from streams.storage.schema import ModelVersion

    url = f"sqlite:///{tmp_path / 'lifeline.db'}"
    migrate(url)  # up to 0003_candidate_metrics
    bundle = ModelBundle()
    for i in range(400):
        x = {"recency_days": float(i % 100), "purchases": 2.0, "frequency": 1.0,
             "purchase_age_days": 150.0}
        bundle.learn(ChurnLabel(x, int(i % 100 >= 50)))
    bundle.snapshot()
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.insert(ModelVersion), [model_version_row(bundle.metrics(), 0.0)])
        stored = conn.execute(sa.select(ModelVersion.serving, ModelVersion.candidates)).one()
    engine.dispose()
    assert stored[0] == "bgnbd" and set(stored[1]) >= {"recency", "bgnbd", "learner", "stack"}
    text = report_text(Settings.from_env({"LIFELINE_DATABASE_URL": url}))
    assert "churn risk served by: bgnbd" in text
    line = next(x for x in text.splitlines() if x.strip().startswith("recency"))
    assert "window ROC AUC 1.0" in line  # the label is recency >= 50 days here
    assert "BG/NBD priors (cdnow" in text
