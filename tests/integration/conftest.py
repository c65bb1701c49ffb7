"""Real-broker fixtures: one Tansu per session; fresh topics, group and database per test.

Helpers the tests share live in tests/integration/helpers.py; this module holds fixtures only.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from streams.local.broker import free_port, start_tansu
from tests.integration.helpers import PG_ADMIN, ROOT, SESSION_TIMEOUT_S, Worker


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Tansu broker (memory storage) for the whole session: ``kafka://127.0.0.1:PORT``."""
    port = free_port()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with log.open("wb") as out:
        proc = start_tansu(port, out)
    try:
        yield f"kafka://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture()
def empty_database() -> Iterator[str]:
    """A fresh, empty PostgreSQL database (SQLAlchemy URL); dropped afterwards."""
    name = f"lifeline_it_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
        yield f"{url}/{name}"
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture()
def database(empty_database: str) -> str:
    """A fresh PostgreSQL database migrated to head; dropped afterwards."""
    from streams.cli.admin import migrate

    migrate(empty_database)
    return empty_database


@pytest.fixture()
def lifeline(broker: str, database: str, tmp_path: Path,
             request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings for one test: fresh topic prefix, consumer group and data dir; topics created.

    Yields ``{"settings": Settings, "env": dict, "worker": () -> Worker, "logs": Path}``;
    workers are killed at teardown. ``@pytest.mark.lifeline_env(LIFELINE_X="...")``
    overrides variables.
    """
    from streams.cli.admin import create_topics
    from streams.settings import Settings

    run = uuid.uuid4().hex[:10]
    env = {
        **os.environ,
        "LIFELINE_BROKER": broker,
        "LIFELINE_DATABASE_URL": database,
        "LIFELINE_TOPIC_PREFIX": f"it-{run}-",
        "LIFELINE_APP_ID": f"it-{run}",
        "LIFELINE_DATA_DIR": str(tmp_path / "faust"),
        "LIFELINE_PARTITIONS": "2",
        "LIFELINE_STORE": "memory://",
        "LIFELINE_SINK_INTERVAL": "0.2",
        "LIFELINE_SESSION_TIMEOUT_S": SESSION_TIMEOUT_S,
        # Most tests here start several workers on a busy 2-core machine: each trainer child
        # would be another interpreter to start. The trainer's own tests (the champion
        # pipeline) run the default, a child process.
        "LIFELINE_TRAINER": "thread",
        "PYTHONPATH": str(ROOT),
    }
    marker = request.node.get_closest_marker("lifeline_env")
    if marker is not None:
        env.update(marker.kwargs)
    settings = Settings.from_env(env)
    create_topics(settings)
    workers: list[Worker] = []

    def worker() -> Worker:
        w = Worker(env, tmp_path / f"worker-{len(workers)}.log").start()
        workers.append(w)
        return w

    try:
        yield {"settings": settings, "env": env, "worker": worker, "logs": tmp_path}
    finally:
        # The test is over: no graceful stop (a worker drains its streams first, ~20 s when
        # the trainer holds a batch), its group, topics and database are never used again.
        for w in workers:
            w.kill9()
