"""Real-broker fixtures: one Tansu per session; fresh topics, group and database per test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from streams.local.broker import free_port, start_tansu

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def wait_for(check: Callable[[], Any], *, timeout: float, every: float = 0.5,
             what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


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
def database() -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; dropped afterwards."""
    from streams.cli.admin import migrate

    name = f"lifeline_it_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(PG_ADMIN)
    admin.autocommit = True
    try:
        admin.cursor().execute(f'CREATE DATABASE "{name}"')
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
        url = f"{url}/{name}"
        migrate(url)
        yield url
    finally:
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


class Worker:
    """A real ``python -m streams worker`` subprocess that can be killed with -9."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Worker:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker", "-l", "info", "--without-web"],
                cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return self

    def kill9(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill9()


@pytest.fixture()
def lifeline(broker: str, database: str, tmp_path: Path,
             request: pytest.FixtureRequest) -> Iterator[dict[str, Any]]:
    """Settings for one test: fresh topic prefix, consumer group and data dir; topics created.

    Yields ``{"settings": Settings, "env": dict, "worker": () -> Worker}``; workers are stopped
    at teardown. ``@pytest.mark.lifeline_env(LIFELINE_X="...")`` overrides variables.
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
        for w in workers:
            w.stop()


def read_topic(bootstrap: str, topic: str, *, at_least: int = 0,
               wait: float = 10.0) -> list[tuple[bytes | None, bytes]]:
    """Every ``(key, value)`` in ``topic`` from the beginning (waits for ``at_least``)."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=2000, group_id=None)
    out: list[tuple[bytes | None, bytes]] = []
    deadline = time.monotonic() + wait
    try:
        while True:
            out.extend((m.key, m.value) for m in consumer)
            if len(out) >= at_least or time.monotonic() > deadline:
                return out
    finally:
        consumer.close()


def recovery_report(settings: Any, *, partitions: int) -> str:
    """What a restarted worker will start from: committed offsets against the changelog.

    Lists users with a valid, first-seen event below their partition's committed offset that
    their newest changelog state does not include (``offset`` in the state is the last one
    applied): such events are never processed again. Printed when a kill -9 test fails.
    """
    import orjson
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from online_models.contract import Rejection, parse_event

    def read(topic: str) -> list[Any]:
        consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                                 enable_auto_commit=False, consumer_timeout_ms=3000)
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        try:
            return list(consumer)
        finally:
            consumer.close()

    source = settings.topic("user-events")
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap)
    try:
        offsets = admin.list_group_offsets(settings.app_id)
    finally:
        admin.close()
    by_tp = offsets.get(settings.app_id, offsets)
    committed = {tp.partition: meta.offset for tp, meta in by_tp.items() if tp.topic == source}
    states = {orjson.loads(m.key): orjson.loads(m.value) if m.value else None
              for m in read(f"{settings.app_id}-profiles_for_user-changelog")}
    seen: set[tuple[str, str]] = set()
    missing: dict[str, list[int]] = {}
    for m in read(source):
        event = parse_event(m.value, now=time.time())
        if isinstance(event, Rejection) or (event.user_id, event.event_id) in seen:
            continue
        seen.add((event.user_id, event.event_id))
        state = states.get(event.user_id) or {}
        if state.get("offset", -1) < m.offset < committed.get(m.partition, 0):
            missing.setdefault(event.user_id, []).append(m.offset)
    return (f"committed {committed}; {len(states)} users in the changelog; "
            f"{len(missing)} users with committed events their state lacks: "
            f"{sorted(missing.items())[:3]}")
