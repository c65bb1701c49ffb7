"""Shared pieces of the end-to-end benchmarks: broker, topics, database, workers, quiescence.

``lifeline_run()`` is a context manager that gives one isolated Lifeline deployment:

1. Tansu (``streams.local.broker.start_tansu``) on a port from ``streams.local.broker.free_port()``
   (or an external ``kafka://host:port`` broker);
2. a fresh topic set: ``LIFELINE_TOPIC_PREFIX=bench-<uuid>-``, created with their partition
   counts by ``streams.cli.admin.create_topics``;
3. a fresh PostgreSQL database ``bench_<uuid>`` on the server of ``LIFELINE_TEST_PG``
   (admin URL, default ``postgresql://postgres@127.0.0.1:5432/postgres``), migrated to head
   with ``streams.cli.admin.migrate``;
4. the worker environment: ``LIFELINE_BROKER``, ``LIFELINE_DATABASE_URL``, a fresh
   ``LIFELINE_APP_ID`` (consumer group), ``LIFELINE_DATA_DIR`` in a temporary folder,
   ``LIFELINE_PARTITIONS`` and any extra ``LIFELINE_*`` overrides; inherited ``LIFELINE_*``
   variables of the calling shell are dropped so a run is reproducible.

The handle (:class:`Deployment`) starts workers (``python -m streams worker -l info
--without-web`` in their own process group, logs in the run's temporary folder, printed on
failure), publishes events (``streams.cli.replay.replay``), runs SQL, and waits until the
database is quiescent (:meth:`Deployment.wait_quiescent`): ``sum(events)`` of
``user_profiles`` equals the number of valid events published and the counts of
``segment_transitions`` / ``churn_alerts`` and ``max(model_versions.version)`` have not
changed for a quiet period. On exit (normal, exception, Ctrl-C or SIGTERM) workers and the
broker are stopped, the database is dropped and the temporary folder removed (kept, with its
path printed, when the run failed).

Workers run at ``-l info``: at ``-l warn`` Faust's spinner sets the root logger to DEBUG and
every per-message ``log.debug`` builds a record (see ``bench/throughput.py``).

Only ``streams.*`` reads ``LIFELINE_*`` variables for the worker; this module reads
``LIFELINE_TEST_PG`` (the admin database of the benchmarks, as the integration tests do).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

if TYPE_CHECKING:
    from streams.settings import Settings

PG_ADMIN_DEFAULT = "postgresql://postgres@127.0.0.1:5432/postgres"
JOIN_TIMEOUT = 180.0  # seconds for a fresh worker to join its group and write a first row


# ------------------------------------------------------------------------------ processes


def python_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without ``LIFELINE_*``/``BENCH_*``, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFELINE_", "BENCH_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra)
    return env


def spawn(args: list[str], env: Mapping[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start ``args`` in its own process group (so it can be killed with its children)."""
    with open(log, "ab") as out:
        return subprocess.Popen(
            args, env=dict(env), cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def stop(proc: subprocess.Popen[bytes] | None, grace: float = 10.0) -> None:
    """SIGTERM the process group, SIGKILL it after ``grace`` seconds."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            continue


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file ('' if unreadable)."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _terminate(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)  # unwinds through the context managers' clean-up


def exit_cleanly_on_sigterm() -> None:
    """Turn SIGTERM into ``SystemExit`` so ``finally`` blocks clean up (call from main)."""
    signal.signal(signal.SIGTERM, _terminate)


@dataclass
class Worker:
    """One ``python -m streams worker`` subprocess and its log file."""

    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.perf_counter)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check(self) -> None:
        """Raise ``RuntimeError`` with the log's tail if the worker has exited."""
        if not self.alive():
            raise RuntimeError(
                f"worker {self.name} exited with {self.proc.returncode}:\n{tail(self.log)}"
            )

    def stop(self) -> None:
        stop(self.proc, grace=20.0)


# ------------------------------------------------------------------------------- database


def pg_admin_url() -> str:
    """The admin database URL (``LIFELINE_TEST_PG``), libpq form."""
    return os.environ.get("LIFELINE_TEST_PG", PG_ADMIN_DEFAULT)


def _connect(url: str) -> Any:
    import psycopg2

    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    conn.autocommit = True
    return conn


def database_url(name: str) -> str:
    """SQLAlchemy URL of database ``name`` on the admin database's server."""
    base = pg_admin_url().rsplit("/", 1)[0]
    return f"{base.replace('postgresql://', 'postgresql+psycopg2://', 1)}/{name}"


def _admin_execute(sql: str) -> None:
    """Run one statement on the admin database (autocommit, as CREATE/DROP DATABASE need)."""
    conn = _connect(pg_admin_url())
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
    finally:
        conn.close()


def create_database(name: str) -> str:
    """Create database ``name``; returns its SQLAlchemy URL."""
    _admin_execute(f'CREATE DATABASE "{name}"')
    return database_url(name)


def drop_database(name: str) -> None:
    """Drop database ``name`` (terminating its connections)."""
    _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ------------------------------------------------------------------------------ deployment


@dataclass(frozen=True)
class Quiescence:
    """The database state when it became quiet."""

    events: int
    transitions: int
    alerts: int
    model_version: int | None
    seconds: float  # from the wait's start to the last change seen
    first_row: float | None  # seconds from the wait's start to the first profile row


@dataclass
class Deployment:
    """A running isolated Lifeline deployment (see the module docstring)."""

    broker: str
    partitions: int
    prefix: str
    app_id: str
    dbname: str
    database_url: str
    work: Path
    env: dict[str, str]
    settings: Settings
    workers: list[Worker] = field(default_factory=list)
    _conn: Any = None

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap

    def topic(self, name: str) -> str:
        return self.settings.topic(name)

    # ---------------------------------------------------------------- workers

    def start_worker(self, extra: Mapping[str, str] | None = None, *, loglevel: str = "info",
                     name: str | None = None) -> Worker:
        """Start ``python -m streams worker -l info --without-web`` with this deployment's env.

        ``extra`` overrides variables for this worker only; keep ``loglevel`` at ``info``
        (see the module docstring).
        """
        name = name or f"worker-{len(self.workers)}"
        log = self.work / f"{name}.log"
        env = python_env({**self.env, **(extra or {})})
        proc = spawn(
            [sys.executable, "-m", "streams", "worker", "-l", loglevel, "--without-web"], env, log
        )
        worker = Worker(name, proc, log)
        self.workers.append(worker)
        return worker

    def stop_workers(self) -> None:
        for worker in self.workers:
            worker.stop()

    def print_logs(self, lines: int = 60, file: IO[str] = sys.stderr) -> None:
        """Print the tail of every log of this run (workers and broker)."""
        for log in sorted(self.work.glob("*.log")):
            print(f"----- {log} (last {lines} lines) -----\n{tail(log, lines)}", file=file)

    # ----------------------------------------------------------------- events

    def publish(self, events: Iterable[Mapping[str, Any] | bytes], topic: str = "user-events",
                progress: bool = False) -> int:
        """Publish ``events`` keyed by user id with ``streams.cli.replay.replay``; returns count."""
        from streams.cli.replay import replay

        return asyncio.run(
            replay(events, bootstrap=self.bootstrap, topic=self.topic(topic), progress=progress,
                   security=self.settings.kafka)
        )

    # --------------------------------------------------------------- database

    @property
    def conn(self) -> Any:
        if self._conn is None or self._conn.closed:
            self._conn = _connect(self.database_url)
        return self._conn

    def query(self, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
        """Run ``sql`` on the deployment's database and return all rows."""
        with self.conn.cursor() as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def scalar(self, sql: str, params: Any = None) -> Any:
        rows = self.query(sql, params)
        return rows[0][0] if rows else None

    def snapshot(self) -> tuple[int, int, int, int | None]:
        """``(sum(events), transitions, alerts, max model version)`` right now."""
        row = self.query(
            "SELECT (SELECT coalesce(sum(events), 0) FROM user_profiles),"
            " (SELECT count(*) FROM segment_transitions),"
            " (SELECT count(*) FROM churn_alerts),"
            " (SELECT max(version) FROM model_versions)"
        )[0]
        return int(row[0]), int(row[1]), int(row[2]), row[3]

    def wait_quiescent(self, expected_events: int, *, quiet: float = 5.0,
                       timeout: float = 1800.0, poll: float = 0.5,
                       progress_every: float = 30.0) -> Quiescence:
        """Wait until every valid event is counted and the outputs stopped changing.

        Quiet = ``sum(user_profiles.events) == expected_events`` and the transition count,
        the alert count and the newest model version unchanged for ``quiet`` seconds.
        Raises ``RuntimeError`` if a worker dies, ``TimeoutError`` after ``timeout`` (or
        ``JOIN_TIMEOUT`` without a first row); both carry the worker logs' tails.
        """
        started = last_progress = time.perf_counter()
        first_row: float | None = None
        last = self.snapshot()
        changed = started
        while True:
            time.sleep(poll)
            now = time.perf_counter()
            current = self.snapshot()
            if current != last:
                last, changed = current, now
            if current[0] and first_row is None:
                first_row = now - started
                print(f"  first profile row after {first_row:.1f}s", flush=True)
            if current[0] > expected_events:
                raise RuntimeError(f"database counts {current[0]} events > {expected_events}")
            if current[0] == expected_events and now - changed >= quiet:
                return Quiescence(*current, seconds=changed - started, first_row=first_row)
            for worker in self.workers:
                worker.check()
            if first_row is None and now - started > JOIN_TIMEOUT:
                raise TimeoutError(f"no profile row after {JOIN_TIMEOUT:.0f}s:\n"
                                   + "\n".join(tail(w.log) for w in self.workers))
            if now - started > timeout:
                raise TimeoutError(f"not quiescent after {timeout:.0f}s: {current}\n"
                                   + "\n".join(tail(w.log) for w in self.workers))
            if now - last_progress >= progress_every:
                last_progress = now
                print(f"  t={now - started:5.0f}s events {current[0]:,}/{expected_events:,} "
                      f"transitions {current[1]:,} alerts {current[2]:,} "
                      f"model version {current[3]}", flush=True)

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):
                self._conn.close()
            self._conn = None


def count_valid(events: Iterable[Mapping[str, Any]], max_future_skew_s: float = 86_400.0) -> int:
    """How many of ``events`` a worker applies: valid (``parse_event``) and not duplicates.

    This is what ``sum(user_profiles.events)`` reaches once they are all processed.
    """
    import orjson

    from online_models.contract import Rejection, parse_event

    now, seen = time.time(), set()
    for raw in events:
        event = parse_event(orjson.dumps(raw), now=now, max_future_skew_s=max_future_skew_s)
        if not isinstance(event, Rejection):
            seen.add((event.user_id, event.event_id))
    return len(seen)


@contextlib.contextmanager
def lifeline_run(*, partitions: int = 4, extra_env: Mapping[str, str] | None = None,
                 broker: str | None = None, keep_logs: bool = False) -> Iterator[Deployment]:
    """Start broker (unless ``broker`` is given), topics and database; clean up on exit.

    ``extra_env`` holds ``LIFELINE_*`` overrides for the workers (and for the ``Settings``
    used to create the topics). Logs are kept (path printed) when the block raises, or when
    ``keep_logs``.
    """
    from streams.cli.admin import create_topics, migrate
    from streams.local.broker import free_port, start_tansu
    from streams.settings import Settings

    run_id = uuid.uuid4().hex[:12]
    work = Path(tempfile.mkdtemp(prefix="lifeline-bench-"))
    tansu: subprocess.Popen[bytes] | None = None
    dbname = f"bench_{run_id}"
    db_created = ok = False
    deployment: Deployment | None = None
    try:
        if broker is None:
            port = free_port()
            with open(work / "tansu.log", "wb") as log:
                tansu = start_tansu(port, log)
            broker = f"kafka://127.0.0.1:{port}"
        url = create_database(dbname)
        db_created = True
        migrate(url)
        env = {
            "LIFELINE_BROKER": broker,
            "LIFELINE_DATABASE_URL": url,
            "LIFELINE_TOPIC_PREFIX": f"bench-{run_id}-",
            "LIFELINE_APP_ID": f"bench-{run_id}",
            "LIFELINE_DATA_DIR": str(work / "faust"),
            "LIFELINE_PARTITIONS": str(partitions),
            "LIFELINE_STORE": "memory://",
            **(extra_env or {}),
        }
        settings = Settings.from_env(env)
        create_topics(settings)
        deployment = Deployment(
            broker=broker, partitions=partitions, prefix=env["LIFELINE_TOPIC_PREFIX"],
            app_id=env["LIFELINE_APP_ID"], dbname=dbname, database_url=url, work=work, env=env,
            settings=settings,
        )
        yield deployment
        ok = True
    except BaseException:
        if deployment is not None:
            deployment.print_logs()
        raise
    finally:
        if deployment is not None:
            deployment.stop_workers()
            deployment.close()
        if tansu is not None:
            stop(tansu)
        if db_created:
            try:
                drop_database(dbname)
            except Exception as exc:
                print(f"could not drop database {dbname}: {exc}", file=sys.stderr)
        if ok and not keep_logs:
            import shutil

            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)
