"""Fault suite: hostile messages interleaved with valid events, through one real worker.

``run`` publishes valid synthetic events, a flood for one user and ``hostile`` messages from
bench/hostile.py (hypothesis strategies and mutations of the valid events), then checks: the
worker process is alive, every message the contract refuses is in the DLQ with its reason,
every valid user's events / purchases / revenue in PostgreSQL are exact, every source
partition's committed offset is at its log end, and the worker's RSS (sampled every 0.5 s).
The integration test runs it at 10,000 hostile messages; for bigger runs (own Tansu, fresh
database on ``LIFELINE_TEST_PG``)::

    python -m bench.fuzz --hostile 50000 --users 400 --seed 11
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

from bench.hostile import Hostile, flood, generate
from streams.data.datasets import synthetic_events
from streams.local.polling import wait_until
from streams.local.totals import db_totals, expected_totals

ROOT = Path(__file__).resolve().parents[1]
FLOOD_USER = "fz-flood-user"


def publish(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes, Any]]
            ) -> list[tuple[int, int]]:
    """Send ``(key, value, headers)`` items; returns each one's ``(partition, offset)``."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5,
                             max_request_size=2 << 20)
    try:
        out: list[tuple[int, int]] = []
        for i in range(0, len(items), 2000):
            sent = [producer.send(topic, key=k, value=v, headers=h)
                    for k, v, h in items[i:i + 2000]]
            producer.flush()
            out += [(md.partition, md.offset) for md in (f.get(timeout=120) for f in sent)]
        return out
    finally:
        producer.close()


def read_all(bootstrap: str, topic: str, partitions: int) -> list[Any]:
    """Every record of ``topic`` (counted by reading: Tansu's listed ends can lag)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                             enable_auto_commit=False, consumer_timeout_ms=3000,
                             fetch_max_bytes=32 << 20, max_partition_fetch_bytes=8 << 20)
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    try:
        return list(consumer)
    finally:
        consumer.close()


def committed_and_ends(bootstrap: str, group: str, topic: str,
                       partitions: int) -> dict[int, tuple[int, int]]:
    """Per partition of ``topic``: (the group's committed offset, the log end)."""
    ends = dict.fromkeys(range(partitions), 0)
    for m in read_all(bootstrap, topic, partitions):
        ends[m.partition] = max(ends[m.partition], m.offset + 1)
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        listed = admin.list_group_offsets(group)
    finally:
        admin.close()
    offsets = listed.get(group, listed)  # keyed by group in some kafka-python versions
    committed = {tp.partition: meta.offset for tp, meta in offsets.items() if tp.topic == topic}
    return {p: (committed.get(p, -1), ends[p]) for p in range(partitions)}


class RssSampler(threading.Thread):
    """Samples a process's resident set size (MiB) every ``every`` seconds."""

    def __init__(self, pid: int, every: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.pid, self.every, self.samples = pid, every, []
        self.stopped = threading.Event()

    @staticmethod
    def rss_mib(pid: int) -> float:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def run(self) -> None:
        while not self.stopped.wait(self.every):
            try:
                self.samples.append(self.rss_mib(self.pid))
            except OSError:
                return


def classify_outcomes(hostile: list[Hostile], origins: list[tuple[int, int]],
                      letters: dict[tuple[int, int], str]) -> dict[str, Any]:
    """Per class: tried, dead-lettered by reason, and the messages not handled as expected."""
    by_class: dict[str, dict[str, Any]] = {}
    wrong: list[tuple[str, str, str | None]] = []
    for h, origin in zip(hostile, origins, strict=True):
        c = by_class.setdefault(h.cls, {"tried": 0, "dead_lettered": Counter(),
                                        "accepted_not_dead_lettered": 0})
        c["tried"] += 1
        got = letters.get(origin)
        if got is not None:
            c["dead_lettered"][got] += 1
        elif h.expected == "accepted":
            c["accepted_not_dead_lettered"] += 1
        if h.expected != "accepted" and got != h.expected:
            wrong.append((h.cls, h.expected, got))
    return {"classes": {k: {**v, "dead_lettered": dict(v["dead_lettered"])}
                        for k, v in sorted(by_class.items())}, "wrong": wrong}


def run(settings: Any, start_worker: Callable[[], subprocess.Popen[bytes]], *, hostile: int,
        users: int = 150, days: int = 30, flood_events: int = 2000, seed: int = 11,
        timeout: float = 900.0) -> dict[str, Any]:
    """The whole suite against a broker and database already set up for ``settings``."""
    t0 = time.monotonic()
    valid = list(itertools.islice(synthetic_events(users=users, days=days, seed=seed), 10 ** 6))
    valid += flood(FLOOD_USER, flood_events, flood_events // 2,
                   start=time.time() - 30 * 86_400)
    bad = generate(valid, hostile, rng_seed=seed)
    t_gen = time.monotonic() - t0
    source = settings.topic("user-events")
    bootstrap = settings.bootstrap
    want = expected_totals(valid)
    valid_users = set(want)
    warm = [e for e in valid if e["user_id"] != FLOOD_USER][:300]
    rest = valid[len(warm):]

    proc = start_worker()
    publish(bootstrap, source, [(e["user_id"].encode(), orjson.dumps(e), None) for e in warm])
    warm_want = {u: t for u, t in expected_totals(warm).items()}
    wait_until(lambda: db_totals(settings.database_url, set(warm_want)) == warm_want, 300,
               "the warm-up events")
    rss_before = RssSampler.rss_mib(proc.pid)
    sampler = RssSampler(proc.pid)
    sampler.start()

    rng = random.Random(seed)
    mixed: list[tuple[Hostile | None, tuple[bytes | None, bytes, Any]]] = []
    queue = list(bad)
    for e in rest:  # valid events keep their order; hostile ones fall in between
        while queue and rng.random() < len(queue) / (len(queue) + len(rest)):
            h = queue.pop()
            mixed.append((h, (h.key, h.value, h.headers)))
        mixed.append((None, (e["user_id"].encode(), orjson.dumps(e), None)))
    mixed += [(h, (h.key, h.value, h.headers)) for h in queue]
    t1 = time.monotonic()
    origins = publish(bootstrap, source, [item for _, item in mixed])
    t_pub = time.monotonic() - t1
    sent_bad = [h for h, _ in mixed if h is not None]
    bad_origins = [o for (h, _), o in zip(mixed, origins, strict=True) if h is not None]
    refused = {o for h, o in zip(sent_bad, bad_origins, strict=True) if h.expected != "accepted"}

    def letters() -> dict[tuple[int, int], str]:
        # A collector batch leaves one dead letter per refused item: its origin stands for
        # the last item's (the highest index; see bench.hostile.parse_event).
        out: dict[tuple[int, int], tuple[int, str]] = {}
        for d in (orjson.loads(m.value) for m in read_all(
                bootstrap, settings.topic("user-events-dlq"), settings.partitions)):
            origin, index = (d["partition"], d["offset"]), d.get("index")
            rank = -1 if index is None else int(index)
            if origin not in out or rank >= out[origin][0]:
                out[origin] = (rank, d["reason"])
        return {origin: reason for origin, (_, reason) in out.items()}

    def all_refused() -> dict[tuple[int, int], str] | None:
        got = letters()
        return got if refused <= set(got) else None

    def offsets_at_ends() -> dict[int, tuple[int, int]] | None:
        o = committed_and_ends(bootstrap, settings.app_id, source, settings.partitions)
        return o if all(c == e for c, e in o.values()) else None

    dlq = wait_until(all_refused, timeout, "every refused message in the DLQ", every=5.0)
    totals_exact = True
    try:
        wait_until(lambda: db_totals(settings.database_url, valid_users) == want, timeout,
                   "exact totals of valid users", every=2.0)
    except TimeoutError:
        totals_exact = False
    got = db_totals(settings.database_url, valid_users)
    try:
        offsets = wait_until(offsets_at_ends, 180, "committed offsets at log ends", every=3.0)
    except TimeoutError:
        offsets = committed_and_ends(bootstrap, settings.app_id, source, settings.partitions)
    sampler.stopped.set()
    sampler.join()
    rss_after = RssSampler.rss_mib(proc.pid) if proc.poll() is None else 0.0
    outcome = classify_outcomes(sent_bad, bad_origins, dlq)
    return {
        "hostile": len(sent_bad), "valid_events": len(valid), "valid_users": len(want),
        "valid_users_exact": sum(got.get(u) == t for u, t in want.items()),
        "totals_exact": totals_exact,
        "users_off": [(u, got.get(u), t) for u, t in want.items() if got.get(u) != t][:5],
        "worker_alive": proc.poll() is None, "offsets": offsets,
        "rss_mib": {"before": round(rss_before, 1), "after": round(rss_after, 1),
                    "peak": round(max(sampler.samples, default=rss_after), 1)},
        "seconds": {"generate": round(t_gen, 1), "publish": round(t_pub, 1),
                    "total": round(time.monotonic() - t0, 1)},
        **outcome,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostile", type=int, default=50_000)
    parser.add_argument("--users", type=int, default=400)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()

    import psycopg2

    from streams.cli.admin import create_topics, migrate
    from streams.local.broker import free_port, start_tansu
    from streams.settings import Settings

    pg_admin = os.environ.get("LIFELINE_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")
    work = Path(tempfile.mkdtemp(prefix="lifeline-fuzz-"))
    port = free_port()
    tansu = start_tansu(port, (work / "tansu.log").open("wb"))
    name = f"lifeline_fuzz_{uuid.uuid4().hex[:10]}"
    admin = psycopg2.connect(pg_admin)
    admin.autocommit = True
    admin.cursor().execute(f'CREATE DATABASE "{name}"')
    url = pg_admin.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg2://")
    env = {**os.environ, "LIFELINE_BROKER": f"kafka://127.0.0.1:{port}",
           "LIFELINE_DATABASE_URL": f"{url}/{name}", "LIFELINE_TOPIC_PREFIX": "fz-",
           "LIFELINE_APP_ID": "fz", "LIFELINE_DATA_DIR": str(work / "faust"),
           "LIFELINE_PARTITIONS": "2", "LIFELINE_SINK_INTERVAL": "0.2", "PYTHONPATH": str(ROOT)}
    workers: list[subprocess.Popen[bytes]] = []

    def start_worker() -> subprocess.Popen[bytes]:
        out = (work / "worker.log").open("ab")
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "streams", "worker", "-l", "info", "--without-web"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT))
        return workers[-1]

    try:
        settings = Settings.from_env(env)
        migrate(settings.database_url)
        create_topics(settings)
        report = run(settings, start_worker, hostile=args.hostile, users=args.users,
                     days=args.days, seed=args.seed, timeout=3600)
        print(json.dumps(report, indent=1, default=str))
        print(f"logs: {work}")
    finally:
        for w in workers:
            w.terminate()
            w.wait(timeout=30)
        tansu.terminate()
        admin.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


if __name__ == "__main__":
    main()
