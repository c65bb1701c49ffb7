"""Shared fixtures: environment for an isolated app, a Tansu broker, fresh PostgreSQL databases.

Also the run order: tests marked ``slow`` first (see :func:`pytest_collection_modifyitems`).
"""

from __future__ import annotations

import os
import uuid

import pytest

# The app reads its settings at import: point it at nothing real before anything imports it.
os.environ.setdefault("LIFELINE_BROKER", "kafka://127.0.0.1:1")  # never dialled by unit/agent tests
os.environ.setdefault("LIFELINE_DATABASE_URL", "sqlite:///var/test-unused.db")
os.environ.setdefault("LIFELINE_APP_ID", f"test-{uuid.uuid4().hex[:8]}")
os.environ.setdefault("LIFELINE_PARTITIONS", "2")
os.environ.setdefault("LIFELINE_STORE", "memory://")



def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (minutes, mostly waiting) run first, each followed by one other.

    Under ``make test`` (``-n 4 --maxschedchunk 1``) pytest-xdist hands each worker its first two
    tests at once, so spaced out like this each slow test starts at once on a worker of its own
    while the other workers run the rest of the suite, instead of the longest tests queuing
    behind each other or starting last. Serially this only changes the order.
    """
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    rest = [item for item in items if item.get_closest_marker("slow") is None]
    head = [item for pair in zip(slow, rest, strict=False) for item in pair]
    items[:] = head + slow[len(rest):] + rest[len(slow):]
