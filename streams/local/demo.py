"""``make demo``: the whole job on embedded defaults, from an empty machine to a summary.

Starts a Tansu broker, creates the topics, migrates an embedded SQLite database, starts one
worker, replays the CDNOW purchase log (real data) and a synthetic clickstream (users
``syn-u-*``), shows progress, and prints a summary read back from the database.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from tqdm import tqdm

from streams.topics import TRAINING, USER_EVENTS

ROOT = Path(__file__).resolve().parents[2]

# A few malformed messages, so the dead-letter path is visible in the summary.
MALFORMED: list[bytes] = [
    b"{this is not json",
    b'{"event_id":"bad-1","user_id":"","type":"view","ts":"2026-01-01T00:00:00Z"}',
    b'{"event_id":"bad-2","user_id":"syn-u-1","type":"purchase","ts":"2026-01-01","price":-5}',
    b'{"event_id":"bad-3","user_id":"syn-u-1","type":"review","ts":1767225600,"rating":11}',
]


def _total_events(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(sa.text(
                "SELECT coalesce(sum(events), 0) FROM user_profiles")).scalar_one())
    except sa.exc.OperationalError:
        return 0
    finally:
        engine.dispose()


def _behind(settings: Any, topics: dict[str, int]) -> int:
    """Messages of ``topics`` ({name: partitions}) the worker's group has not committed yet."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    from streams.runtime.offsets import log_ends_sync

    tps = [TopicPartition(t, p) for t, n in topics.items() for p in range(n)]
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                             **settings.kafka.client_options())
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap,
                             **settings.kafka.client_options())
    try:
        ends = log_ends_sync(consumer, tps)
        offsets = admin.list_group_offsets(settings.app_id)
    finally:
        consumer.close()
        admin.close()
    committed = offsets.get(settings.app_id, offsets)
    return sum(max(ends[tp] - getattr(committed.get(tp), "offset", 0), 0) for tp in tps)


def _wait_until_consumed(settings: Any, topics: dict[str, int], what: str,
                         timeout: float = 600.0) -> None:
    """Show ``what`` until the group has committed ``topics`` to their ends (or time is up)."""
    deadline = time.monotonic() + timeout
    with tqdm(desc=what, unit="msg") as bar:
        while (left := _behind(settings, topics)) > 0 and time.monotonic() < deadline:
            bar.set_postfix(left=left)
            time.sleep(1.0)


def run(*, users: int, days: int, cdnow: bool, workdir: Path, cdnow_every: int = 1) -> int:
    """Run the demo; returns a process exit code."""
    from streams.cli.admin import create_topics, migrate
    from streams.cli.replay import replay
    from streams.data import datasets
    from streams.local.broker import free_port, start_tansu
    from streams.settings import Settings

    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    port = free_port()
    env = {
        **os.environ,
        "LIFELINE_BROKER": f"kafka://127.0.0.1:{port}",
        "LIFELINE_DATABASE_URL": f"sqlite:///{workdir / 'lifeline.db'}",
        "LIFELINE_DATA_DIR": str(workdir / "faust"),
        "LIFELINE_APP_ID": f"lifeline-demo-{uuid.uuid4().hex[:6]}",
        "PYTHONPATH": str(ROOT),
    }
    settings = Settings.from_env(env)
    print(f"broker   tansu on 127.0.0.1:{port} (memory storage)")
    with (workdir / "tansu.log").open("wb") as log:
        broker = start_tansu(port, log)
    worker: subprocess.Popen[bytes] | None = None
    try:
        print(f"topics   {len(create_topics(settings))} created with their partition counts")
        migrate(settings.database_url)
        print(f"database {settings.database_url_redacted} migrated")
        events: list[Any] = []
        if cdnow:
            events.extend(datasets.cdnow_events(every=cdnow_every))
        n_real = len(events)
        # The synthetic clickstream continues where CDNOW ends, so event time runs on.
        begin = "1998-07-01" if cdnow else "2026-01-01"
        events.extend(datasets.synthetic_events(users=users, days=days, start=begin))
        n_valid = len(events)
        events.extend(MALFORMED)
        print(f"events   {n_real:,} CDNOW purchases (real) + {n_valid - n_real:,} synthetic "
              f"+ {len(MALFORMED)} malformed")
        with (workdir / "worker.log").open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "streams", "worker", "-l", "info", "--without-web"],
                cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        asyncio.run(replay(events, bootstrap=settings.bootstrap,
                           topic=settings.topic(USER_EVENTS.name),
                           security=settings.kafka))
        start = None
        with tqdm(total=n_valid, desc="processed", unit="ev") as bar:
            done = 0
            while (done := max(done, _total_events(settings.database_url))) < n_valid:
                if worker.poll() is not None:
                    print(f"worker exited with {worker.returncode}; see {workdir}/worker.log")
                    return 1
                if done and start is None:
                    start = time.monotonic()
                bar.update(done - bar.n)
                time.sleep(0.5)
            bar.update(done - bar.n)
        elapsed = time.monotonic() - (start or time.monotonic())
        # The one trainer learns behind the workers: let it finish and publish, then re-assess
        # everyone once (an operator tick to every partition) so the segments below come from
        # the final models; interest segments appear only once the clustering has seeded.
        _wait_until_consumed(settings, {settings.topic(TRAINING.name): 1},
                             "training examples")
        time.sleep(settings.snapshot_seconds + 2.0)  # its last snapshot, then the workers'
        from streams.cli.admin import publish_ticks

        publish_ticks(settings, at=None, everyone=True)
        _wait_until_consumed(settings, {settings.topic(USER_EVENTS.name): settings.partitions},
                             "re-assessing every user with the final models")
        from streams.cli.report import report_text, summary_text

        print(summary_text(settings, elapsed=elapsed or None))
        print(report_text(settings))
        print(f"logs     {workdir}")
        return 0
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
        broker.terminate()
        broker.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    """CLI of ``python -m streams.local.demo``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--users", type=int, default=300, help="synthetic users")
    parser.add_argument("--days", type=int, default=60, help="synthetic days")
    parser.add_argument("--no-cdnow", action="store_true", help="skip the CDNOW log")
    parser.add_argument("--cdnow-every", type=int, default=5,
                        help="replay every n-th CDNOW customer's whole history (default 5: "
                             "4,714 customers, all 18 months, a demo of a few minutes)")
    parser.add_argument("--full", action="store_true",
                        help="all 23,570 CDNOW customers (18 months of event time, ~10 min)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "var" / "demo")
    args = parser.parse_args(argv)
    return run(users=args.users, days=args.days, cdnow=not args.no_cdnow, workdir=args.workdir,
               cdnow_every=1 if args.full else args.cdnow_every)


if __name__ == "__main__":
    raise SystemExit(main())
