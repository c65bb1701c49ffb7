"""Right to erasure end to end: forget, kill -9, restart, replay: no trace left anywhere.

One partition (one watermark). Every user buys twice, so with the blank model (risk 0.5) and
an alert threshold of 0.4 each has a profile, segment memberships and transitions, an alert
and a win-back outcome in PostgreSQL. Two users are erased with ``python -m streams forget``;
the worker is killed with -9; their old events are published again; a restarted worker must
not bring back a single row or table state. A third user, silent longer than
``LIFELINE_USER_TTL_DAYS`` in event time, is expired through the same path.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from streams.privacy.erasure import ERASED_PREFIX, erased_key
from streams.storage.erasure import count_user_rows
from streams.storage.schema import make_engine
from tests.integration.helpers import ROOT, publish, read_topic, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.lifeline_env(
        LIFELINE_PARTITIONS="1",
        LIFELINE_ALERT_THRESHOLD="0.4",
        LIFELINE_CONTROL_SHARE="0",
        LIFELINE_SNAPSHOT_EXAMPLES="1000000",
        LIFELINE_SNAPSHOT_SECONDS="3600",
        LIFELINE_SESSION_TIMEOUT_S="8",
        LIFELINE_USER_TTL_DAYS="30",
    ),
]

T0 = 1767225600.0  # 2026-01-01T00:00:00Z
DAY = 86_400.0
VICTIMS = ["it-victim-1", "it-victim-2"]
SLEEPER = "it-sleeper"
KEEPERS = [f"it-keep-{i}" for i in range(3)]


def history(user: str) -> list[dict[str, Any]]:
    """Signup, a view and two purchases a day apart (an alert, then its outcome)."""
    def ev(n: str, kind: str, day: float, **f: Any) -> dict[str, Any]:
        return {"event_id": f"{user}-{n}", "user_id": user, "type": kind,
                "ts": T0 + day * DAY, **f}
    return [ev("signup", "signup", 0), ev("view", "view", 0.01, category="shoes"),
            ev("buy-1", "purchase", 0.02, category="shoes", price=40.0),
            ev("buy-2", "purchase", 1.0, category="shoes", price=30.0)]


def later(user: str, day: float) -> dict[str, Any]:
    return {"event_id": f"{user}-later-{day}", "user_id": user, "type": "view",
            "ts": T0 + day * DAY, "category": "bags"}


def rows(url: str, users: list[str]) -> dict[str, int]:
    engine = make_engine(url)
    try:
        return count_user_rows(engine, users)
    finally:
        engine.dispose()


def encode(events: list[dict[str, Any]]) -> list[tuple[bytes, bytes]]:
    return [(e["user_id"].encode(), orjson.dumps(e)) for e in events]


def receipts(settings: Any, at_least: int) -> list[dict[str, Any]]:
    return [orjson.loads(v) for _, v in read_topic(
        settings.bootstrap, settings.topic("erasure-receipts"), at_least=at_least, wait=2.0)]


def latest_changelog(settings: Any) -> dict[str, Any]:
    """The newest changelog value of every key (None: a tombstone)."""
    out: dict[str, Any] = {}
    for key, value in read_topic(settings.bootstrap,
                                 f"{settings.app_id}-profiles_for_user-changelog"):
        out[orjson.loads(key)] = orjson.loads(value) if value else None
    return out


def changelog_configs(settings: Any) -> dict[str, str]:
    """The table changelog's topic configs, as the broker holds them."""
    import asyncio

    from aiokafka.admin import AIOKafkaAdminClient
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    async def describe() -> dict[str, str]:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap)
        await admin.start()
        try:
            [response] = await admin.describe_configs([ConfigResource(
                ConfigResourceType.TOPIC, f"{settings.app_id}-profiles_for_user-changelog")])
        finally:
            await admin.close()
        return {entry[0]: entry[1] for entry in response.resources[0][4]}

    return asyncio.run(describe())


def test_erasure__forget_kill9_restart_replay_leaves_no_trace(
        lifeline: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    settings, url = lifeline["settings"], lifeline["settings"].database_url
    source = settings.topic("user-events")
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    everyone = [*VICTIMS, SLEEPER, *KEEPERS]
    first = [e for u in everyone for e in history(u)]
    worker = lifeline["worker"]()
    publish(producer, source, encode(first))
    wait_for(lambda: rows(url, everyone)["user_profiles"] == len(everyone)
             and rows(url, everyone)["winback_outcomes"] == len(everyone),
             timeout=180, what="every user's profile, alert and outcome")
    before = {u: rows(url, [u]) for u in everyone}
    assert all(before[u]["churn_alerts"] == 1 for u in everyone), before

    forget = subprocess.run([sys.executable, "-m", "streams", "forget", *VICTIMS, "--wait",
                             "120"], cwd=ROOT, env=lifeline["env"], capture_output=True,
                            text=True, timeout=240)
    assert forget.returncode == 0, forget.stderr[-2000:]
    assert forget.stdout.count("erasure requested") == 2
    assert forget.stdout.count("erased: it-victim-") == 2, forget.stdout
    got = wait_for(lambda: len(r := receipts(settings, 2)) >= 2 and r, timeout=120,
                   what="two erasure receipts")
    after_forget = {u: rows(url, [u]) for u in everyone}
    worker.kill9()

    by_user = {r["user_id"]: r for r in got}
    for user in VICTIMS:
        assert by_user[user]["removed"]["rows"] == before[user]  # what the receipt says
        assert by_user[user]["removed"]["state"] is True
        assert set(after_forget[user].values()) == {0}
    for user in [SLEEPER, *KEEPERS]:
        assert after_forget[user] == before[user]

    # Old events of the erased users come back (a re-published history), time moves on:
    # day 20 and day 40 for the keepers; the sleeper (last seen on day 1) passes the TTL.
    publish(producer, source, encode([e for u in VICTIMS for e in history(u)]))
    publish(producer, source, encode([later(u, 20) for u in KEEPERS]))
    publish(producer, source, encode([later(u, 40) for u in KEEPERS]))
    lifeline["worker"]()
    wait_for(lambda: rows(url, [SLEEPER])["user_profiles"] == 0, timeout=240,
             what="the sleeper's expiry")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            wait_for(lambda: conn.exec_driver_sql(
                "SELECT count(*) FROM user_profiles WHERE events = 6").scalar() == len(KEEPERS),
                timeout=120, what="the keepers' later events")
    finally:
        engine.dispose()
    final = {u: rows(url, [u]) for u in everyone}
    for user in [*VICTIMS, SLEEPER]:
        assert set(final[user].values()) == {0}, (user, final[user])
    for user in KEEPERS:  # kept: their alert stays (the silence to day 40 may open another)
        assert final[user]["user_profiles"] == 1 and final[user]["churn_alerts"] >= 1

    changelog = latest_changelog(settings)
    for user in [*VICTIMS, SLEEPER]:
        assert changelog.get(user, "absent") is None  # the newest record is a tombstone
        assert changelog[erased_key(user)]["at"] >= T0 + DAY
    assert all(changelog[u] is not None for u in KEEPERS)
    markers = [k for k in changelog if k.startswith(ERASED_PREFIX)]
    assert len(markers) == 3 and not any(u in k for k in markers for u in everyone)
    # The only expiry is the sleeper's: the erased users' old events were dropped, not
    # applied again (applied, they would have been expired too, with rows to remove).
    ttl = [r for r in receipts(settings, 3) if r["reason"] == "ttl"]
    assert [r["user_id"] for r in ttl] == [SLEEPER]
    assert ttl[0]["removed"]["rows"] == before[SLEEPER]
    assert changelog_configs(settings)["max.compaction.lag.ms"] == str(86_400_000)
    with capsys.disabled():
        print("\nerasure rows per table, before -> after forget -> after kill -9, restart, "
              "replay:")
        for user in [*VICTIMS, SLEEPER, KEEPERS[0]]:
            print(f"  {user:<12}", {t: f"{before[user][t]}->{after_forget[user][t]}->"
                                     f"{final[user][t]}" for t in before[user]})
    producer.close()
