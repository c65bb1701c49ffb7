"""What integration tests share besides fixtures: waiting, workers, topics, database readers.

Tests synchronise on the database or on the broker (rows, totals, topic contents, committed
offsets), never on a worker's log lines.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

# expected_totals is re-exported: the tests read every helper from this module.
from streams.local.polling import wait_until
from streams.local.totals import Totals, db_totals, expected_totals  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
PG_ADMIN = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
# A worker killed with -9 keeps its partitions until its consumer-group session times out:
# short here, so kill -9 tests wait seconds rather than the production default's 30 s.
SESSION_TIMEOUT_S = "8"



def wait_for(check: Callable[[], Any], *, timeout: float, every: float = 0.5,
             what: str = "condition") -> Any:
    """Poll ``check`` until it returns something truthy; fail the test after ``timeout``."""
    try:
        return wait_until(check, timeout, what, every=every)
    except TimeoutError as exc:
        pytest.fail(str(exc))


class Worker:
    """A real ``python -m streams worker`` subprocess that can be killed with -9.

    Its output goes to ``log`` (kept with the test's temporary files for post-mortems).
    """

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


# --- broker ----------------------------------------------------------------------------------

def new_topic(bootstrap: str, name: str, partitions: int) -> str:
    """Create a fresh topic ``name-<hex>`` and return its name."""
    from kafka.admin import KafkaAdminClient, NewTopic

    topic = f"{name}-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(topic, partitions, 1)])
    finally:
        admin.close()
    return topic


def publish(producer: KafkaProducer, topic: str, items: list[tuple[bytes | None, bytes]]) -> None:
    """Send and wait until the broker has every message (a send error fails the test)."""
    sent = [producer.send(topic, key=key, value=value) for key, value in items]
    producer.flush()
    for future in sent:
        future.get(timeout=60)


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


def committed_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The consumer group's committed offset per partition of ``topic`` (none: absent)."""
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        offsets = admin.list_group_offsets(group)
    finally:
        admin.close()
    by_tp = offsets.get(group, offsets)
    return {tp.partition: meta.offset for tp, meta in by_tp.items()
            if tp.topic == topic and meta.offset >= 0}


# --- database --------------------------------------------------------------------------------

def rows(url: str, sql: str) -> list[Any]:
    """The rows of one SQL query."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)).all())
    finally:
        engine.dispose()


def applied_events(url: str) -> int:
    """Events applied so far, by the database: the sum of ``user_profiles.events``."""
    return int(rows(url, "SELECT coalesce(sum(events), 0) FROM user_profiles")[0][0])


def wait_for_exact_totals(url: str, want: Totals, *, timeout: float, context: str = "") -> None:
    """Wait until ``user_profiles`` holds exactly ``want``; else fail naming the users off."""
    try:
        wait_for(lambda: db_totals(url) == want, timeout=timeout, what="exact totals")
    except BaseException:
        got = db_totals(url)
        wrong = {u: (got.get(u), w) for u, w in want.items() if got.get(u) != w}
        raise AssertionError(f"{len(wrong)} users differ (got, want): "
                             f"{list(wrong.items())[:5]}\n{context}") from None


# --- post-mortem -----------------------------------------------------------------------------

def recovery_report(settings: Any, *, partitions: int) -> str:
    """What a restarted worker will start from: committed offsets against the changelog.

    Lists users with a valid, first-seen event below their partition's committed offset that
    their newest changelog state does not include (``offset`` in the state is the last one
    applied): such events are never processed again. Printed when a kill -9 test fails.
    """
    import orjson
    from kafka import KafkaConsumer, TopicPartition

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
    committed = committed_offsets(settings.bootstrap, settings.app_id, source)
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
