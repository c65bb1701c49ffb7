"""Churn alerts and segment changes end to end, in event time, on a real broker and database.

The worker scores with a model bundle trained here (risk rises with purchase silence) and
published to the model topic before it starts; snapshots from its own trainer are held back
(``LIFELINE_SNAPSHOT_*``) so every decision below follows from that one model. One partition
gives one watermark: a ``clock`` user's daily views move event time for everybody.
"""

from __future__ import annotations

import itertools
import threading
import time
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer

from online_models.alerts import in_control_group
from online_models.bundle import ModelBundle
from online_models.candidates import learner_inputs
from online_models.churn import churn_features
from online_models.contract import Event
from online_models.profile import DAY, ProfileConfig, UserState, apply_event
from online_models.training import ChurnLabel
from streams.cli.admin import publish_ticks
from streams.cli.report import report_text
from tests.integration.helpers import (
    applied_events,
    publish,
    read_topic,
    recovery_report,
    rows,
    wait_for,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.lifeline_env(
        LIFELINE_PARTITIONS="1",
        LIFELINE_CHURN_HORIZON_DAYS="40",
        LIFELINE_NEW_DAYS="10",
        LIFELINE_AT_RISK_DAYS="20",
        LIFELINE_CHURNED_DAYS="40",
        LIFELINE_RESCORE_DAYS="2",
        LIFELINE_CONTROL_SHARE="0.5",
        LIFELINE_SNAPSHOT_EXAMPLES="1000000",
        LIFELINE_SNAPSHOT_SECONDS="3600",
        LIFELINE_SINK_BATCH="200",  # small flushes: progress to kill -9 in the middle of
    ),
]

T0 = 1767225600.0  # 2026-01-01T00:00:00Z


def trained_bundle() -> ModelBundle:
    """A churn model that learned 'no purchase for more than 15 days' means churn."""
    bundle = ModelBundle()
    for _epoch, user, silence in itertools.product(range(3), range(40), range(0, 60, 2)):
        state = _silent_state(2 + user % 4, price=20.0 + user)
        x = churn_features(state, (state.last_seen or 0.0) + silence * DAY)
        bundle.learn(ChurnLabel(x, int(silence > 15)))
    return bundle


def ev(event_id: str, user: str, kind: str, day: float, **fields: Any) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "type": kind, "ts": T0 + day * DAY,
            **fields}


def learner_risk(bundle: ModelBundle, state: UserState, at: float) -> float:
    """The trained learner's churn probability for ``state`` at ``at`` (on its own inputs)."""
    x = learner_inputs(churn_features(state, at), params=bundle.priors.params,
                       horizon_days=bundle.horizon_days)
    return bundle.churn.predict_proba_one(x)


def pick(prefix: str, control: bool) -> str:
    return next(u for i in itertools.count() if in_control_group(u := f"{prefix}{i}", 0.5)
                == control)


def test_lifecycle__silence_alerts_once_control_held_back_and_journey_segments(
    lifeline: dict[str, Any],
) -> None:
    settings = lifeline["settings"]
    bundle = trained_bundle()
    assert learner_risk(bundle, _silent_state(4), 11 * DAY) < 0.3
    assert learner_risk(bundle, _silent_state(4), 40 * DAY) > 0.8
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    producer.send(settings.topic("lifeline-models"), key=b"bundle", value=bundle.snapshot())

    treated, control = pick("silent-t-", False), pick("silent-c-", True)
    events = []
    for user in (treated, control):
        events += [ev(f"{user}-{k}", user, "purchase", 3 * k, price=30.0, category="shoes")
                   for k in range(4)]
    journey = "journey-1"
    events += [ev("j-signup", journey, "signup", 0), ev("j-view", journey, "view", 0.5),
               ev("j-buy-1", journey, "purchase", 1, price=25.0),
               ev("j-buy-2", journey, "purchase", 5, price=25.0),
               ev("j-buy-3", journey, "purchase", 12, price=25.0),
               ev("j-back", journey, "purchase", 70, price=40.0)]
    events += [ev(f"clock-{d}", "clock", "view", d + 0.9) for d in range(80)]
    events.sort(key=lambda e: e["ts"])
    for e in events:
        producer.send(settings.topic("user-events"), key=e["user_id"].encode(),
                      value=orjson.dumps(e))
    producer.flush()

    lifeline["worker"]()
    url = settings.database_url
    wait_for(lambda: rows(url, "SELECT sum(events) FROM user_profiles")[0][0] == len(events),
             timeout=150, what="every event in user_profiles")

    alerts = rows(url, "SELECT user_id, control, model_version FROM churn_alerts "
                       "ORDER BY user_id")
    by_user = {a[0]: a for a in alerts}
    assert sorted(u for u, *_ in alerts if u in (treated, control)) == sorted([treated, control])
    assert by_user[treated][1] is False and by_user[control][1] is True
    assert by_user[treated][2] == 1  # the model version that scored it
    published = read_topic(settings.bootstrap, settings.topic("churn-alerts"),
                           at_least=len([a for a in alerts if not a[1]]))
    published_users = [orjson.loads(v)["user_id"] for _, v in published]
    assert published_users.count(treated) == 1, "one alert per user per episode"
    assert control not in published_users, "the holdout group is never contacted"
    assert len(published) == sum(1 for a in alerts if not a[1])

    changes = [orjson.loads(v) for _, v in read_topic(
        settings.bootstrap, settings.topic("segment-changes"), at_least=6)]
    lifecycle = [(c["from"], c["to"]) for c in changes
                 if c["user_id"] == journey and c["dimension"] == "lifecycle"]
    assert lifecycle == [(None, "prospect"), ("prospect", "new"), ("new", "active"),
                         ("active", "at_risk"), ("at_risk", "churned"),
                         ("churned", "reactivated")]
    stored = rows(url, "SELECT from_segment, to_segment FROM segment_transitions "
                       f"WHERE user_id = '{journey}' AND dimension = 'lifecycle' ORDER BY at")
    assert [tuple(r) for r in stored] == lifecycle
    assert rows(url, "SELECT segment FROM segment_memberships "
                     f"WHERE user_id = '{journey}' AND dimension = 'lifecycle'") == [
        ("reactivated",)]
    assert rows(url, f"SELECT lifecycle FROM user_profiles WHERE user_id = '{journey}'") == [
        ("reactivated",)]

    # An operator tick moves event time on with no event at all: 200 days on, the returned
    # customer has churned again.
    publish_ticks(settings, at=T0 + 200 * DAY, everyone=True)
    wait_for(lambda: rows(url, "SELECT lifecycle FROM user_profiles "
                               f"WHERE user_id = '{journey}'") == [("churned",)],
             timeout=60, what="the tick to re-assess the journey user")

    text = report_text(settings)
    treated_total = rows(url, "SELECT count(*) FROM churn_alerts WHERE NOT control")[0][0]
    assert f"win-back: treated {treated_total:,} alerts" in text
    assert "lifecycle  churned" in text
    producer.close()


def _silent_state(purchases: int, price: float = 30.0) -> UserState:
    state, cfg = UserState(), ProfileConfig()
    for k in range(purchases):
        apply_event(state, Event(f"s{k}", "s", "purchase", k * 3 * DAY, price=price), cfg)
    return state


def test_lifecycle__kill9_mid_stream_duplicates_no_alert_and_loses_no_transition(
    lifeline: dict[str, Any],
) -> None:
    settings = lifeline["settings"]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap, linger_ms=5)
    producer.send(settings.topic("lifeline-models"), key=b"bundle",
                  value=trained_bundle().snapshot())
    users = [f"quiet-{i}" for i in range(1500)]
    events = [ev(f"{u}-{k}", u, "purchase", 3 * k + i % 3, price=30.0)
              for i, u in enumerate(users) for k in range(4)]
    events += [ev(f"clock-{d}", "clock", "view", d + 0.9) for d in range(60)]
    events.sort(key=lambda e: e["ts"])

    def send(batch: list[dict[str, Any]]) -> None:
        publish(producer, settings.topic("user-events"),
                [(e["user_id"].encode(), orjson.dumps(e)) for e in batch])

    def feed(start: int) -> None:  # a live stream: 300 events every 0.1 s
        for i in range(start, len(events), 300):
            send(events[i:i + 300])
            time.sleep(0.1)

    url = settings.database_url
    first = lifeline["worker"]()
    # The stream goes live once the worker applies its first events (seen in the database).
    send(events[:300])
    wait_for(lambda: applied_events(url) > 0, timeout=120, what="the first worker to join")
    feeder = threading.Thread(target=feed, args=(300,))
    feeder.start()
    wait_for(lambda: applied_events(url) > len(events) // 4, timeout=150, every=0.05,
             what="progress")
    first.kill9()
    at_kill = applied_events(url)
    feeder.join()
    at_restart = recovery_report(settings, partitions=1)
    (lifeline["logs"] / "recovery_report.txt").write_text(at_restart)  # kept with the logs
    assert at_kill < len(events), "the worker finished before it could be killed"

    lifeline["worker"]()
    total: list[int] = []
    wait_for(lambda: total.append(applied_events(url)) or total[-1] == len(events), timeout=240,
             what=f"all {len(events)} events after kill -9 and restart (sums seen: {total})")
    try:
        wait_for(lambda: rows(url, "SELECT count(DISTINCT user_id) FROM churn_alerts")[0][0]
                 >= len(users), timeout=60, what="an alert for every silent user")
    except BaseException:
        missing = rows(url, "SELECT user_id, last_seen, churn_risk, lifecycle, updated_at "
                            "FROM user_profiles WHERE user_id NOT IN (SELECT user_id FROM "
                            "churn_alerts) ORDER BY user_id LIMIT 5")
        clock = rows(url, "SELECT last_seen, churn_risk FROM user_profiles "
                          "WHERE user_id = 'clock'")
        raise AssertionError((missing, clock, at_restart)) from None
    per_user = rows(url, "SELECT user_id, count(*) FROM churn_alerts GROUP BY user_id "
                         "HAVING count(*) > 1")
    assert per_user == [], "a user was alerted twice for one episode"
    assert {r[0] for r in rows(url, "SELECT user_id FROM churn_alerts")} >= set(users)
    journeys: dict[str, list[tuple[str | None, str | None]]] = {}
    for user, old, new in rows(url, "SELECT user_id, from_segment, to_segment FROM "
                                    "segment_transitions WHERE dimension = 'lifecycle' AND "
                                    "user_id LIKE 'quiet-%' ORDER BY user_id, at"):
        journeys.setdefault(user, []).append((old, new))
    # Their first event is a purchase, so nobody is a prospect; no change lost, none twice.
    expected = [(None, "new"), ("new", "active"), ("active", "at_risk"), ("at_risk", "churned")]
    wrong = {u: j for u, j in journeys.items() if j != expected}
    assert not wrong and len(journeys) == len(users), (list(wrong.items())[:3], at_restart)
    producer.close()
