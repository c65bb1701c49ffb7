"""End to end on a real broker and PostgreSQL: DLQ, exact profiles, and kill -9 recovery."""

from __future__ import annotations

import hashlib
import itertools
import threading
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.data.datasets import synthetic_events
from streams.records import PAYLOAD_PREFIX_BYTES
from tests.integration.helpers import (
    db_totals,
    expected_totals,
    publish,
    read_topic,
    recovery_report,
    wait_for,
    wait_for_exact_totals,
)

pytestmark = pytest.mark.integration

T0 = "2026-03-01T10:00:00Z"


def valid_events() -> list[dict[str, Any]]:
    events = []
    for u in range(6):
        uid = f"it-user-{u}"
        events.append({"event_id": f"{uid}-signup", "user_id": uid, "type": "signup", "ts": T0})
        for k in range(u + 1):
            events.append({"event_id": f"{uid}-view-{k}", "user_id": uid, "type": "view",
                           "ts": 1772359200 + 60 * k, "category": "shoes", "item_id": f"i{k}"})
            events.append({"event_id": f"{uid}-buy-{k}", "user_id": uid, "type": "purchase",
                           "ts": 1772359230 + 60 * k, "category": "shoes", "price": 12.5 + k,
                           "quantity": 1 + k % 2})
        if u % 2:
            events.append({"event_id": f"{uid}-refund", "user_id": uid, "type": "refund",
                           "ts": 1772369200, "price": 12.5, "quantity": 1})
        events.append({"event_id": f"{uid}-wave", "user_id": uid, "type": "wave", "ts": T0})
    return events


MALFORMED: list[tuple[bytes, str]] = [
    (b"{not json", "not_json"),
    (b'["a list"]', "not_object"),  # a batch: its one item is dead-lettered alone
    (b'{"user_id":"it-user-0","type":"view","ts":1772359200}', "missing_field:event_id"),
    (b'{"event_id":"m1","user_id":"  ","type":"view","ts":1772359200}', "empty_field:user_id"),
    (b'{"event_id":"m2","user_id":"it-user-0","type":"view","ts":"noon"}', "bad_timestamp"),
    (b'{"event_id":"m3","user_id":"it-user-0","type":"view","ts":"1970-01-02T00:00:00Z"}',
     "absurd_timestamp"),
    (b'{"event_id":"m4","user_id":"it-user-0","type":"purchase","ts":1772359200,"price":-3}',
     "negative:price"),
    (b'{"event_id":"m5","user_id":"it-user-0","type":"purchase","ts":1772359200,"quantity":-1}',
     "negative:quantity"),
    (b'{"event_id":"m6","user_id":"it-user-0","type":"review","ts":1772359200,"rating":9}',
     "rating_out_of_range"),
    (orjson.dumps({"event_id": "m7", "user_id": "it-user-0", "type": "review",
                   "ts": 1772359200, "text": "x" * 20_000}), "oversized:text"),
    (b'{"event_id":"m8","user_id":"it-user-0","type":"purchase","ts":1772359200,"price":"9"}',
     "bad_type:price"),
    # NUL would stop the PostgreSQL sink; an internal key must never become a user.
    (b'{"event_id":"m9","user_id":"it-\\u0000user","type":"view","ts":1772359200}',
     "control_char:user_id"),
    (b'{"event_id":"m10","user_id":"\\u0000lifeline-next-offset:0","type":"view",'
     b'"ts":1772359200}', "control_char:user_id"),
    (b'{"event_id":"m11","user_id":"it-user-0","type":"view","ts":1772359200,'
     b'"category":"shoes\\u0085"}', "control_char:category"),
    (b'{"event_id":"m12","user_id":"it-user-0","type":"purchase","ts":1772359200,'
     b'"price":1e9}', "too_large:price"),
]


def dead_lettered(case: tuple[bytes, str]) -> bytes:
    """What a dead letter keeps of a malformed message: itself, or a batch's refused item."""
    raw = case[0]
    return orjson.dumps(orjson.loads(raw)[0]) if raw.startswith(b"[") else raw


def test_pipeline__dead_letters_exact_profiles_and_kill9_recovery(lifeline: dict[str, Any]) -> None:
    settings = lifeline["settings"]
    source = settings.topic("user-events")
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    phase1 = valid_events()
    duplicates = phase1[::3]
    items = [(e["user_id"].encode(), orjson.dumps(e)) for e in phase1 + duplicates]
    items += [(b"it-user-0", raw) for raw, _ in MALFORMED]
    publish(producer, source, items)

    first = lifeline["worker"]()
    want = expected_totals(phase1)
    wait_for(lambda: db_totals(settings.database_url) == want, timeout=120,
             what="phase-1 profiles")
    letters = [orjson.loads(v) for _, v in read_topic(
        settings.bootstrap, settings.topic("user-events-dlq"), at_least=len(MALFORMED),
        wait=60)]
    by_origin = {(d["partition"], d["offset"]): d for d in letters}
    assert sorted(d["reason"] for d in by_origin.values()) == sorted(r for _, r in MALFORMED)
    # Each dead letter identifies its original (length, SHA-256) and keeps a bounded prefix:
    # the message, or for an item of a batch that item alone (with its index).
    originals = {hashlib.sha256(raw).hexdigest(): raw for raw in map(dead_lettered, MALFORMED)}
    assert [d["index"] for d in by_origin.values() if d["index"] is not None] == [0]
    assert {d["value_sha256"] for d in by_origin.values()} == set(originals)
    for d in by_origin.values():
        raw = originals[d["value_sha256"]]
        assert d["value_length"] == len(raw) and raw.startswith(d["value"].encode())
        assert d["truncated"] == (len(raw) > PAYLOAD_PREFIX_BYTES)
    assert all(d["topic"] == source for d in letters)

    # Phase 2: a stream of synthetic (labelled syn-) events; kill -9 the worker mid-stream.
    phase2 = list(itertools.islice(synthetic_events(users=300, days=40, seed=3), 30_000))
    feed = [(e["user_id"].encode(), orjson.dumps(e)) for e in phase2]
    done = sum(t[0] for t in want.values())
    feeder = threading.Thread(target=lambda: [publish(producer, source, feed[i:i + 1000])
                                              for i in range(0, len(feed), 1000)])
    feeder.start()

    def progressed() -> int:
        return sum(t[0] for t in db_totals(settings.database_url).values()) - done

    at_kill = wait_for(lambda: progressed() > 1000 or 0, timeout=120, every=0.05,
                       what="phase-2 progress")
    first.kill9()
    feeder.join()
    at_restart = recovery_report(settings, partitions=2)
    (lifeline["logs"] / "recovery_report.txt").write_text(at_restart)  # kept with the logs
    assert at_kill < len(phase2), "the worker finished before it could be killed"

    lifeline["worker"]()
    wait_for_exact_totals(settings.database_url, expected_totals(phase1 + phase2), timeout=300,
                          context=f"at the restart: {at_restart}")
    producer.close()
