"""Client retries up to 60 events after their original, a kill -9 mid-stream: exact totals.

A chronological clickstream of busy users (a few minutes between events) in which clients
re-send messages: each copy lands 1 to 60 of the user's own events after its original, far
past the 32 ids remembered before time-windowed dedupe, yet within a day of the user's
clock. A worker is killed with -9 while the stream flows; a new one takes over. Every copy
must be dropped: events, purchases and revenue exact for every user.
"""

from __future__ import annotations

import random
import threading
import time
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from tests.integration.helpers import (
    db_totals,
    expected_totals,
    publish,
    recovery_report,
    wait_for,
    wait_for_exact_totals,
)

pytestmark = pytest.mark.integration
T0 = 1_772_323_200.0  # 2026-03-01
USERS, PER_USER, MAX_LAG = 150, 100, 60


def clickstream_with_retries(seed: int = 14) -> tuple[list[dict[str, Any]], list[int]]:
    """The stream in arrival order and, per copy, how many of its user's events it trails."""
    rng = random.Random(seed)
    arrivals: list[tuple[float, int, dict[str, Any]]] = []
    lags: list[int] = []
    kinds = ["view"] * 6 + ["search", "add_to_cart", "purchase"]
    for u in range(USERS):
        ts, user = T0 + rng.uniform(0, 3600), f"dd-u-{u}"
        own = []
        for i in range(PER_USER):
            ts += rng.uniform(30, 360)  # busy users: 100 events in ~6 hours
            kind = rng.choice(kinds)
            price = round(rng.uniform(5, 300), 2) if kind == "purchase" else None
            own.append({"event_id": f"{user}-{i}-{rng.getrandbits(32):08x}", "user_id": user,
                        "type": kind, "ts": round(ts, 3), "category": f"cat-{rng.randrange(7)}",
                        "price": price, "quantity": rng.randint(1, 3) if price else None,
                        "session_id": f"{user}-s-{int(ts // 1800)}"})
        for i, event in enumerate(own):
            arrivals.append((event["ts"], 0, event))
            if rng.random() < (0.6 if event["type"] == "purchase" else 0.15):
                lag = rng.randint(1, MAX_LAG)
                after = own[min(i + lag, len(own) - 1)]
                lags.append(min(i + lag, len(own) - 1) - i)
                arrivals.append((after["ts"], 1, dict(event)))  # the copy: same message
    arrivals.sort(key=lambda a: (a[0], a[1]))
    return [e for _, _, e in arrivals], lags


def test_dedupe__retries_up_to_60_events_later_and_kill9_exact_totals(
    lifeline: dict[str, Any],
) -> None:
    settings = lifeline["settings"]
    source, url = settings.topic("user-events"), settings.database_url
    stream, lags = clickstream_with_retries()
    want = expected_totals(stream)
    copies = len(stream) - sum(t[0] for t in want.values())
    assert copies == len(lags) and sum(lag > 32 for lag in lags) > 200  # past the old window
    feed = [(e["user_id"].encode(), orjson.dumps(e)) for e in stream]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    publish(producer, source, feed[: len(feed) // 3])

    def feeder() -> None:  # the rest as a live stream, while the worker is killed
        for i in range(len(feed) // 3, len(feed), 400):
            publish(producer, source, feed[i:i + 400])
            time.sleep(0.2)

    def applied() -> int:
        return sum(v[0] for v in db_totals(url).values())

    first = lifeline["worker"]()
    thread = threading.Thread(target=feeder)
    wait_for(lambda: applied() > 1000, timeout=180, every=0.05, what="first events applied")
    thread.start()
    wait_for(lambda: applied() > len(feed) // 3, timeout=180, every=0.05, what="progress")
    killed_at = applied()
    first.kill9()
    thread.join()
    lifeline["worker"]()
    wait_for_exact_totals(url, want, timeout=300,
                          context=recovery_report(settings, partitions=settings.partitions))
    got = db_totals(url)
    purchases = sum(t[1] for t in got.values())
    revenue = round(sum(t[2] for t in got.values()), 2)
    print(f"\n{len(stream)} messages ({copies} copies, {sum(lag > 32 for lag in lags)} of them "
          f"more than 32 events late), {len(got)} users; killed at {killed_at} applied; "
          f"totals: {sum(t[0] for t in got.values())} events, {purchases} purchases, "
          f"revenue {revenue:,.2f}")
    producer.close()
