"""A Python stream-processing peer for ``bench/throughput.py``: Quix Streams, stateful.

Quix Streams (librdkafka via confluent-kafka, RocksDB state with a changelog topic) keeps a
per-user profile, the same three numbers Lifeline's ``user_profiles`` row starts with: events,
purchases, revenue. Each message is one JSON event keyed by user id; the state is read,
updated and written back per message, and every write goes to the state's changelog topic
(Quix's default ``use_changelog_topics=True``, at-least-once).

Installed by the bench-only extra: ``pip install -e .[bench]`` (``quixstreams``). Its source
topic must carry ``retention.ms`` (Quix copies it onto the changelog topic it creates; Tansu
reports no default); Lifeline's ``create_topics`` sets it on ``user-events``.

Run (one process; ``bench.throughput`` starts it as a subprocess)::

    python -m bench.peers --broker 127.0.0.1:9092 --topic bench-x-user-events \\
        --group bench-quix --events 100000 --out /tmp/quix.json --state-dir /tmp/quix

Once ``--events`` messages were processed it writes one JSON line to ``--out``:
``{"events", "seconds", "cpu", "first_wall", "last_wall"}`` (seconds = first to N-th processed
message, monotonic clock of this process; cpu = this process's CPU seconds, every thread,
over the same window) and stops.
"""

from __future__ import annotations

import argparse
import logging
import time
from typing import Any

import orjson


class Probe:
    """Counts processed messages and reports once ``events`` were seen."""

    def __init__(self, events: int, out: str) -> None:
        self.events, self.out = events, out
        self.seen = 0
        self.first = self.first_wall = self.first_cpu = 0.0
        self.done = False

    def count(self, profile: dict[str, Any]) -> bool:
        self.seen += 1
        if self.seen == 1:
            self.first, self.first_wall = time.perf_counter(), time.time()
            self.first_cpu = time.process_time()
        if self.seen >= self.events and not self.done:
            self.done = True
            report = {"events": self.seen, "seconds": time.perf_counter() - self.first,
                      "cpu": time.process_time() - self.first_cpu,
                      "first_wall": self.first_wall, "last_wall": time.time()}
            with open(self.out, "ab") as handle:
                handle.write(orjson.dumps(report) + b"\n")
        return self.done


def run_quix(broker: str, topic_name: str, group: str, events: int, out: str,
             state_dir: str) -> None:
    """Consume ``topic_name`` from the start with a stateful per-user profile."""
    from quixstreams import Application, State

    app = Application(
        broker_address=broker,
        consumer_group=group,
        auto_offset_reset="earliest",
        state_dir=state_dir,
        loglevel="WARNING",
        use_changelog_topics=True,
    )
    topic = app.topic(topic_name, key_deserializer="str", value_deserializer="json")
    probe = Probe(events, out)

    def profile(event: dict[str, Any], state: State) -> dict[str, Any]:
        current = state.get("profile") or {"events": 0, "purchases": 0, "revenue": 0.0}
        current["events"] += 1
        if event.get("type") == "purchase":
            current["purchases"] += 1
            current["revenue"] += float(event.get("price") or 0.0) * int(
                event.get("quantity") or 1)
        state.set("profile", current)
        return current

    def seen(current: dict[str, Any]) -> None:
        if probe.count(current):
            app.stop()

    sdf = app.dataframe(topic)
    sdf = sdf.apply(profile, stateful=True)
    sdf.update(seen)
    app.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--broker", required=True, help="host:port")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--events", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    run_quix(args.broker, args.topic, args.group, args.events, args.out, args.state_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
