"""Fault suite: 10,000 hostile messages interleaved with valid events through a real worker.

The counts by class are written to ``fault_suite.json`` next to the worker logs (and printed
with ``-s``). Hostile messages the contract accepts (control characters in free text, which
reach no key or column; well-formed far-future ticks, which the worker caps) are counted
(``accepted_not_dead_lettered``); they have users of their own and never touch a valid user.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from bench.fuzz import run

pytestmark = [pytest.mark.integration, pytest.mark.slow]

HOSTILE = 10_000
RSS_LIMIT_MIB = 1024


def test_fault_suite__hostile_messages_never_stop_the_worker_and_valid_totals_are_exact(
    lifeline: dict[str, Any],
) -> None:
    settings = lifeline["settings"]
    engine = sa.create_engine(settings.database_url)
    with engine.begin() as conn:  # the model topic is new: versions must continue from 1000
        conn.execute(sa.text("INSERT INTO model_versions (version, published_at, examples, "
                             "drifts, details) VALUES (1000, :t, 0, 0, '{}')"),
                     {"t": datetime.now(UTC)})
    report = run(settings, lambda: lifeline["worker"]().proc, hostile=HOSTILE)
    with engine.connect() as conn:
        versions = [r[0] for r in conn.execute(sa.text("SELECT version FROM model_versions"))]
        rejected = conn.execute(sa.text(
            "SELECT reason, count(*) FROM rejected_rows GROUP BY reason")).all()
    engine.dispose()
    report["rejected_rows"] = {r[0]: r[1] for r in rejected}
    report["model_versions"] = [*sorted(versions)[:3], "...", *sorted(versions)[-2:]]
    text = json.dumps(report, indent=1, default=str)
    (lifeline["logs"] / "fault_suite.json").write_text(text)
    print(text)

    assert report["hostile"] >= 10_000
    assert report["worker_alive"], "the worker process died"
    assert not report["wrong"], f"refused, not dead-lettered as expected: {report['wrong'][:5]}"
    assert report["totals_exact"], f"valid users off: {report['users_off']}"
    assert report["valid_users_exact"] == report["valid_users"]
    assert all(c == e for c, e in report["offsets"].values()), report["offsets"]
    assert report["rss_mib"]["peak"] < RSS_LIMIT_MIB, report["rss_mib"]
    assert min(versions) == 1000 and max(versions) > 1000, "trainer restarted its numbering"
