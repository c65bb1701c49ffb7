"""Exact per-user totals, expected from events and read from the database.

Shared by the integration tests, the fault bench and the outage test: what a replay of
``events`` must leave in ``user_profiles`` (distinct events, purchases, revenue per user).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa

Totals = dict[str, tuple[int, int, float]]


def expected_totals(events: list[dict[str, Any]]) -> Totals:
    """Per user: distinct events, purchases, revenue (purchases minus refunds).

    >>> expected_totals([
    ...     {"user_id": "u", "event_id": "a", "type": "purchase", "price": 5.0, "quantity": 2},
    ...     {"user_id": "u", "event_id": "a", "type": "purchase", "price": 5.0},
    ...     {"user_id": "u", "event_id": "b", "type": "refund", "price": 3.0}])
    {'u': (2, 1, 7.0)}
    """
    seen: set[tuple[str, str]] = set()
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0.0])
    for e in events:
        if (e["user_id"], e["event_id"]) in seen:
            continue
        seen.add((e["user_id"], e["event_id"]))
        t = totals[e["user_id"]]
        t[0] += 1
        amount = (e.get("price") or 0.0) * (e.get("quantity") or 1)
        if e["type"] == "purchase":
            t[1] += 1
            t[2] += amount
        elif e["type"] == "refund":
            t[2] -= amount
    return {u: (int(t[0]), int(t[1]), round(t[2], 2)) for u, t in totals.items()}


def db_totals(url: str, users: set[str] | None = None) -> Totals:
    """``user_profiles`` totals (of ``users`` only, if given); {} while the database is down."""
    connect_args = {"connect_timeout": 3} if url.startswith("postgresql") else {}
    engine = sa.create_engine(url, connect_args=connect_args)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text(
                "SELECT user_id, events, purchases, revenue FROM user_profiles")).all()
    except sa.exc.OperationalError:
        return {}
    finally:
        engine.dispose()
    return {r[0]: (r[1], r[2], round(r[3], 2)) for r in rows if users is None or r[0] in users}
