"""The churn champion end to end: the worker's own trainer serves the fitted BG/NBD prior until
the learner has learned enough labels and beats it on the label window, then the learner.

Two kinds of buyers (one partition, a ``clock`` user's daily views move event time): steady
ones pay 100 and buy every 1-4 days, occasional ones pay 10 and buy every 5-9 days; churn =
no purchase within 5 days. Their price tells them apart from their first purchase on, which
only the online learner reads; BG/NBD needs several purchases to see the difference.
"""

from __future__ import annotations

import random
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from tests.integration.helpers import wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.lifeline_env(
        LIFELINE_PARTITIONS="1",
        LIFELINE_CHURN_HORIZON_DAYS="5",
        LIFELINE_RESCORE_DAYS="2",
        LIFELINE_CHURN_MIN_LABELS="300",
        LIFELINE_SNAPSHOT_EXAMPLES="500",
        LIFELINE_SNAPSHOT_SECONDS="1",
        LIFELINE_TRAINER="process",  # the default (the fixture's is a thread)
    ),
]

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0


def purchases(users: int = 120, days: int = 120, seed: int = 3) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    out = []
    for u in range(users):
        price, gaps = (100.0, (1.0, 4.0)) if u % 2 == 0 else (10.0, (5.0, 9.0))
        t, k = rng.uniform(0, days * 0.7), 0
        while t < days:
            out.append({"event_id": f"p-{u}-{k}", "user_id": f"user-{u}", "type": "purchase",
                        "ts": T0 + t * DAY, "price": price, "quantity": 1, "category": "music"})
            t, k = t + rng.uniform(*gaps), k + 1
    out += [{"event_id": f"c-{d}", "user_id": "clock", "type": "view",
             "ts": T0 + (d + 0.5) * DAY} for d in range(days + 10)]
    return sorted(out, key=lambda e: e["ts"])


def versions(url: str) -> list[tuple[int, int, str | None, Any]]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(
                "SELECT version, examples, serving, details FROM model_versions "
                "ORDER BY version")).all()]
    finally:
        engine.dispose()


def test_champion__worker_serves_the_prior_then_the_learner(lifeline: dict[str, Any]) -> None:
    settings = lifeline["settings"]
    events = purchases()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    for e in events:
        producer.send(settings.topic("user-events"), key=e["user_id"].encode(),
                      value=orjson.dumps(e))
    producer.flush()
    lifeline["worker"]()
    url = settings.database_url

    def switched() -> bool:
        rows = versions(url)
        return bool(rows) and rows[-1][2] in ("learner", "stack")

    wait_for(switched, timeout=400, what="a model version served by the learner")
    rows = versions(url)
    details = rows[-1][3]
    details = orjson.loads(details) if isinstance(details, str) else details
    # The trainer's decisions (how many snapshots it took in between depends on timing): the
    # prior served until the learner had 300 labels, then the learner (or the stack) took over.
    first = details["switches"][0]
    assert first["from"] == "bgnbd" and first["to"] in ("learner", "stack")
    assert first["label"] >= 300
    assert all(r[2] == "bgnbd" for r in rows if r[1] < 300)
    # The switch needs the challenger's window AUC ahead of the prior's by DeLong z >= 2 on
    # the window judged then. A switch at a snapshot judged that snapshot's window (its row's
    # metrics); later rows judge later windows, where the learner keeps serving unless the
    # prior is ahead by as much, so only the switching row says what the switch saw.
    row = next(r for r in rows if r[2] in ("learner", "stack"))
    judged = row[3]
    judged = orjson.loads(judged) if isinstance(judged, str) else judged
    assert judged["switches"][0] == first
    if first["reason"] == "window":
        candidates = judged["candidates"]
        assert candidates[row[2]]["auc"] > candidates["bgnbd"]["auc"]
