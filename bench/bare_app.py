"""A bare Faust app for ``bench/throughput.py``: one agent that only decodes and counts.

It is the baseline the full Lifeline worker is compared with: same broker, same topic, same
Faust version and the same consumer/producer settings as ``streams/app.py``, but no
validation, no table, no database. Run (from the repository root)::

    BENCH_BROKER=kafka://127.0.0.1:39001 BENCH_TOPIC=bench-x-user-events BENCH_EVENTS=100000 \\
    BENCH_OUT=/tmp/bare.json python -m faust -A bench.bare_app worker -l warn --without-web

Configuration (read only by this module, all optional except the first three):

``BENCH_BROKER``      broker URL (``kafka://host:port``)
``BENCH_TOPIC``       topic to consume (raw bytes values)
``BENCH_OUT``         file that receives one JSON line once ``BENCH_EVENTS`` events were seen:
                      ``{"events", "seconds", "cpu", "first_wall", "last_wall"}`` (seconds =
                      first to N-th event, monotonic clock; cpu = CPU seconds of the whole
                      process, every thread, over the same window)
``BENCH_EVENTS``      N (default 100000)
``BENCH_GROUP``       app id = consumer group (default ``bench-bare``)
``BENCH_PARTITIONS``  partitions of the topic (default 4)
``BENCH_DATADIR``     Faust data directory (default a temporary directory)
``BENCH_MODE``        ``values`` (default: ``async for value in stream``) or ``noack``
                      (``stream.noack().events()`` + ``event.ack()`` like the Lifeline agent)
``BENCH_WORK``        extra per-event work for ablations, comma-separated; ``table``: also
                      store the value in a Faust table keyed by the message key (one
                      changelog message per event, like ``profiles_for_user``)
``BENCH_MONITOR``     ``quiet`` (default, as the worker ships: ``LIFELINE_FAUST_MONITOR``) or
                      ``faust``: Faust's own monitor instead of
                      ``streams.runtime.monitor.QuietMonitor``
``BENCH_FAUST_*``     extra ``faust.App`` settings for experiments, e.g.
                      ``BENCH_FAUST_STREAM_BUFFER_MAXSIZE=16384`` or
                      ``BENCH_FAUST_BROKER_MAX_POLL_RECORDS=2000`` (value parsed as JSON,
                      falling back to the raw string)
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

import faust
import orjson


def _setting(raw: str) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw


BROKER = os.environ.get("BENCH_BROKER", "kafka://127.0.0.1:9092")
TOPIC = os.environ.get("BENCH_TOPIC", "user-events")
GROUP = os.environ.get("BENCH_GROUP", "bench-bare")
OUT = os.environ.get("BENCH_OUT", "")
EVENTS = int(os.environ.get("BENCH_EVENTS", "100000"))
PARTITIONS = int(os.environ.get("BENCH_PARTITIONS", "4"))
MODE = os.environ.get("BENCH_MODE", "values")
WORK = frozenset(w.strip() for w in os.environ.get("BENCH_WORK", "").split(",") if w.strip())
EXTRA: dict[str, Any] = {
    key.removeprefix("BENCH_FAUST_").lower(): _setting(value)
    for key, value in os.environ.items()
    if key.startswith("BENCH_FAUST_")
}

# The same consumer/producer settings and monitor as streams/app.py, so only the agent's work
# differs.
SETTINGS: dict[str, Any] = {
    "broker": BROKER,
    "store": "memory://",
    "topic_partitions": PARTITIONS,
    "topic_allow_declare": True,
    "datadir": os.environ.get("BENCH_DATADIR") or tempfile.mkdtemp(prefix="bench-bare-"),
    "web_enabled": False,
    "broker_session_timeout": 30.0,
    "broker_heartbeat_interval": 3.0,
    "producer_linger": 0.005,
}
SETTINGS.update(EXTRA)
if os.environ.get("BENCH_MONITOR", "quiet") == "quiet":
    from streams.runtime.monitor import QuietMonitor

    SETTINGS["Monitor"] = QuietMonitor

app = faust.App(GROUP, **SETTINGS)
topic = app.topic(
    TOPIC,
    key_type=bytes,
    value_type=bytes,
    key_serializer="raw",
    value_serializer="raw",
    partitions=PARTITIONS,
)

# Only declared when asked for: a table adds a changelog topic and its recovery at start.
table = (
    app.Table(
        "bench_state",
        default=None,
        partitions=PARTITIONS,
        schema=faust.Schema(
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
        ),
    )
    if "table" in WORK
    else None
)


class Counter:
    """Counts decoded events; writes the report once ``EVENTS`` were seen."""

    def __init__(self) -> None:
        self.seen = 0
        self.first = 0.0
        self.first_cpu = 0.0
        self.first_wall = 0.0
        self.reported = False

    def count(self, value: bytes) -> None:
        orjson.loads(value)
        self.seen += 1
        if self.seen == 1:
            self.first, self.first_wall = time.perf_counter(), time.time()
            self.first_cpu = time.process_time()
        if self.seen >= EVENTS and not self.reported:
            self.reported = True
            report = {
                "events": self.seen,
                "seconds": time.perf_counter() - self.first,
                "cpu": time.process_time() - self.first_cpu,
                "first_wall": self.first_wall,
                "last_wall": time.time(),
            }
            if OUT:
                with open(OUT, "ab") as handle:
                    handle.write(orjson.dumps(report) + b"\n")


counter = Counter()


@app.agent(topic)
async def count_events(stream: faust.StreamT[bytes]) -> None:
    """Decode every value with orjson and count it; nothing else (unless ``BENCH_WORK``)."""
    if MODE == "noack" or table is not None:
        noack = MODE == "noack"
        source = stream.noack() if noack else stream  # type: ignore[attr-defined]
        async for event in source.events():
            counter.count(event.value)
            if table is not None:
                table[event.key] = event.value
            if noack:
                event.ack()
    else:
        async for value in stream:
            counter.count(value)


if __name__ == "__main__":
    app.main()
