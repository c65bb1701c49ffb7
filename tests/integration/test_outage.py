"""PostgreSQL outages mid-stream, on a private PostgreSQL cluster: exact totals afterwards.

The outages stop a cluster of this test's own (``initdb`` into a temporary directory, run as
user ``postgres`` on a free port), never the machine's shared one, so the test needs no
opt-in and disturbs no other test. ``LIFELINE_OUTAGE_SECONDS`` sets each outage (default 60).
The counts are written to ``outage.json`` next to the worker logs (printed with ``-s``).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import psycopg2
import pytest
from kafka import KafkaProducer

from streams.data.datasets import synthetic_events
from streams.local.broker import free_port
from streams.local.polling import wait_until
from streams.local.totals import db_totals, expected_totals

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PG_BIN = Path("/usr/lib/postgresql/15/bin")
OUTAGE_S = float(os.environ.get("LIFELINE_OUTAGE_SECONDS", "60"))


class PrivatePostgres:
    """A PostgreSQL 15 cluster in a temporary directory, owned by user ``postgres``."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="lifeline-pg-"))
        shutil.chown(self.dir, "postgres")
        self.port = free_port()
        self._as_postgres([str(PG_BIN / "initdb"), "-D", str(self.dir / "data"), "-A", "trust",
                           "-U", "postgres", "--no-sync"])
        self.start()

    def _as_postgres(self, argv: list[str]) -> None:
        subprocess.run(["runuser", "-u", "postgres", "--", *argv], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)

    def start(self) -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-l",
                           str(self.dir / "log"), "-w", "-o",
                           f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                           "-c fsync=off", "start"])

    def stop(self) -> None:
        self._as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.dir / "data"), "-m", "fast",
                           "-w", "stop"])

    def url(self, db: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{db}"

    def remove(self) -> None:
        try:
            self.stop()
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    if not (PG_BIN / "initdb").exists() or shutil.which("runuser") is None:
        pytest.skip("needs PostgreSQL 15 binaries and runuser to run a private cluster")
    pg = PrivatePostgres()
    try:
        yield pg
    finally:
        pg.remove()


@pytest.fixture()
def database(private_pg: PrivatePostgres) -> Iterator[str]:
    """A fresh, migrated database on the private cluster (overrides the shared one)."""
    from streams.cli.admin import migrate

    name = f"lifeline_outage_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(private_pg.url())
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = private_pg.url(name).replace("postgresql://", "postgresql+psycopg2://")
    migrate(url)
    yield url


def feed(producer: KafkaProducer, topic: str, events: list[dict[str, Any]]) -> threading.Thread:
    """Publish ``events`` as a live stream (500 every 0.25 s) in a background thread."""
    def run() -> None:
        for i in range(0, len(events), 500):
            sent = [producer.send(topic, key=e["user_id"].encode(), value=orjson.dumps(e))
                    for e in events[i:i + 500]]
            producer.flush()
            for future in sent:
                future.get(timeout=60)
            time.sleep(0.25)

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def summary(totals: dict[str, tuple[int, int, float]]) -> dict[str, Any]:
    return {"users": len(totals), "events": sum(t[0] for t in totals.values()),
            "purchases": sum(t[1] for t in totals.values()),
            "revenue": round(sum(t[2] for t in totals.values()), 2)}


def test_outage__postgres_down_60s_mid_stream_then_kill9_during_an_outage_exact_totals(
    lifeline: dict[str, Any], private_pg: PrivatePostgres,
) -> None:
    settings, url = lifeline["settings"], lifeline["settings"].database_url
    source = settings.topic("user-events")
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    events = list(itertools.islice(synthetic_events(users=300, days=40, seed=21), 24_000))
    phase_a, phase_b = events[:12_000], events[12_000:]
    report: dict[str, Any] = {"outage_seconds": OUTAGE_S}

    def applied() -> int:
        return sum(t[0] for t in db_totals(url).values())

    # Phase A: PostgreSQL stops mid-stream for OUTAGE_S while the worker keeps running.
    worker = lifeline["worker"]()
    feeder = feed(producer, source, phase_a)
    wait_until(lambda: applied() > 1500, 240, "progress before the first outage", every=0.2)
    private_pg.stop()
    stopped = time.monotonic()
    time.sleep(OUTAGE_S)
    assert worker.proc is not None and worker.proc.poll() is None, "the worker died"
    private_pg.start()
    report["phase_a_down_s"] = round(time.monotonic() - stopped, 1)
    feeder.join()
    want_a = expected_totals(phase_a)
    wait_until(lambda: db_totals(url) == want_a, 300, "exact totals after the first outage")
    report["phase_a"] = summary(db_totals(url))
    assert report["phase_a"] == summary(want_a)

    # Phase B: a second outage; the worker is killed -9 during it, restarted after it.
    feeder = feed(producer, source, phase_b)
    base = applied()
    wait_until(lambda: applied() > base + 1500, 240, "progress before the second outage",
               every=0.2)
    private_pg.stop()
    stopped = time.monotonic()
    time.sleep(min(10.0, OUTAGE_S / 2))
    worker.kill9()
    time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped)))
    private_pg.start()
    report["phase_b_down_s"] = round(time.monotonic() - stopped, 1)
    feeder.join()
    lifeline["worker"]()
    want = expected_totals(events)
    wait_until(lambda: db_totals(url) == want, 400, "exact totals after kill -9 in an outage")
    report["phase_b"] = summary(db_totals(url))
    log = (lifeline["logs"] / "worker-0.log").read_text(errors="replace")
    report["sink_retries_logged"] = log.count("database write failed")
    text = json.dumps(report, indent=1)
    (lifeline["logs"] / "outage.json").write_text(text)
    print(text)
    producer.close()
    assert report["phase_b"] == summary(want)
    assert report["sink_retries_logged"] > 0, "the sink never saw the outage"
