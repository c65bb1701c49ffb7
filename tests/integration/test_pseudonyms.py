"""Pseudonyms end to end: with LIFELINE_PSEUDONYM_KEY set no raw user id passes ingest."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from kafka import KafkaProducer

from streams.privacy.pseudonyms import pseudonym
from tests.integration.helpers import ROOT, publish, read_topic, wait_for

KEY = "it-pseudonym-key"
RAW = "it-raw-user-7"

pytestmark = [pytest.mark.integration, pytest.mark.lifeline_env(LIFELINE_PSEUDONYM_KEY=KEY)]


def test_pseudonyms__rows_state_and_outputs_hold_only_the_pseudonym(
        lifeline: dict[str, Any]) -> None:
    settings = lifeline["settings"]
    alias = pseudonym(KEY.encode(), RAW)
    shown = subprocess.run([sys.executable, "-m", "streams", "pseudonym", RAW], cwd=ROOT,
                           env=lifeline["env"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0 and f"{RAW}\t{alias}" in shown.stdout, shown.stderr[-500:]
    lifeline["worker"]()
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap)
    events = [{"event_id": f"e{i}", "user_id": RAW, "type": kind, "ts": 1767225600 + i * 60,
               "price": 25.0, "category": "shoes"}
              for i, kind in enumerate(["signup", "view", "purchase"])]
    publish(producer, settings.topic("user-events"),
            [(RAW.encode(), orjson.dumps(e)) for e in events])
    producer.close()
    engine = sa.create_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            users = wait_for(lambda: conn.execute(sa.text(
                "SELECT user_id FROM user_profiles WHERE events = 3")).scalars().all(),
                timeout=120, what="the profile row")
            everywhere = conn.execute(sa.text(
                "SELECT user_id FROM segment_transitions UNION ALL "
                "SELECT user_id FROM segment_memberships")).scalars().all()
    finally:
        engine.dispose()
    assert users == [alias] and everywhere and set(everywhere) == {alias}
    changes = read_topic(settings.bootstrap, settings.topic("segment-changes"), at_least=1)
    changelog = read_topic(settings.bootstrap,
                           f"{settings.app_id}-profiles_for_user-changelog", at_least=1)
    assert changes and all(k == alias.encode() for k, _ in changes)
    for _, value in changes + changelog:
        assert RAW.encode() not in (value or b"")
    assert orjson.dumps(alias) in {k for k, _ in changelog}
