"""Opt-in soak: several kill -9 / restart cycles while a live stream flows, then exact totals.

Skipped unless ``LIFELINE_SOAK_CYCLES`` is set (each restart waits for the killed member's
session to time out: ``LIFELINE_SESSION_TIMEOUT_S``, 8 s in these tests);
``LIFELINE_SOAK_SEED`` picks the synthetic stream. Run:
``LIFELINE_SOAK_CYCLES=4 .venv/bin/python -m pytest -q tests/integration/test_kill9_soak.py``.
"""

from __future__ import annotations

import itertools
import os
import random
import threading
import time
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.data.datasets import synthetic_events
from tests.integration.helpers import (
    applied_events,
    expected_totals,
    publish,
    recovery_report,
    wait_for,
    wait_for_exact_totals,
)

CYCLES = int(os.environ.get("LIFELINE_SOAK_CYCLES", "0"))
SEED = int(os.environ.get("LIFELINE_SOAK_SEED", "5"))

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(CYCLES < 1, reason="opt-in soak: set LIFELINE_SOAK_CYCLES"),
]


def test_kill9_soak__exact_totals_after_repeated_kills(lifeline: dict[str, Any]) -> None:
    settings = lifeline["settings"]
    source = settings.topic("user-events")
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    events = list(itertools.islice(synthetic_events(users=400, days=50, seed=SEED), 60_000))
    feed = [(e["user_id"].encode(), orjson.dumps(e)) for e in events]

    def feeder() -> None:  # a live stream: 500 events every ~0.15 s
        for i in range(0, len(feed), 500):
            publish(producer, source, feed[i:i + 500])
            time.sleep(0.15)

    thread = threading.Thread(target=feeder)
    thread.start()
    rng = random.Random(SEED)
    log = lifeline["logs"] / "soak.txt"

    def applied() -> int:
        return applied_events(settings.database_url)

    for cycle in range(CYCLES):
        worker = lifeline["worker"]()
        base, step = applied(), rng.randint(1500, 6000)
        try:  # kill after a random amount of progress (or after 240 s without it)
            wait_for(lambda b=base, s=step: applied() > b + s, timeout=240, every=0.05,
                     what="progress")
        except BaseException:
            pass
        worker.kill9()
        with log.open("a") as out:
            out.write(f"cycle {cycle}: killed after {applied() - base} events; "
                      f"{recovery_report(settings, partitions=settings.partitions)}\n")
    thread.join()
    lifeline["worker"]()
    wait_for_exact_totals(settings.database_url, expected_totals(events), timeout=300,
                          context=log.read_text())
    producer.close()
