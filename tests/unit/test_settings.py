"""Settings: one object reads LIFELINE_* and refuses bad values with the variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.settings import Settings

pytestmark = pytest.mark.unit


def test_settings__defaults_without_environment() -> None:
    s = Settings.from_env({})
    assert (s.broker, s.partitions, s.store) == ("kafka://127.0.0.1:9092", 4, "memory://")
    assert s.bootstrap == "127.0.0.1:9092"


def test_settings__reads_every_documented_variable() -> None:
    s = Settings.from_env({
        "LIFELINE_BROKER": "kafka://k1:9092;k2:9092",
        "LIFELINE_DATABASE_URL": "postgresql+psycopg2://u@db/lifeline",
        "LIFELINE_PARTITIONS": "12",
        "LIFELINE_STORE": "rocksdb://",
        "LIFELINE_TOPIC_PREFIX": "staging-",
        "LIFELINE_AFFINITY_HALF_LIFE_DAYS": "7",
        "LIFELINE_LIVE_TICK_SECONDS": "15",
        "LIFELINE_DEDUP_HOURS": "48",
        "LIFELINE_DEDUP_MAX_IDS": "20000",
    })
    assert (s.profile.dedup_hours, s.profile.dedup_max_ids) == (48.0, 20_000)
    assert s.bootstrap == "k1:9092,k2:9092"
    assert (s.partitions, s.store, s.profile.half_life_days) == (12, "rocksdb://", 7.0)
    assert s.topic("user-events") == "staging-user-events"
    assert s.database_url.startswith("postgresql")
    assert s.live_tick_seconds == 15.0 and Settings.from_env({}).live_tick_seconds == 0.0


@pytest.mark.parametrize(("name", "value", "message"), [
    ("LIFELINE_PARTITIONS", "many", "LIFELINE_PARTITIONS must be an integer"),
    ("LIFELINE_PARTITIONS", "0", "LIFELINE_PARTITIONS must be >= 1"),
    ("LIFELINE_BROKER", "127.0.0.1:9092", "LIFELINE_BROKER must look like kafka://"),
    ("LIFELINE_STORE", "redis://", "LIFELINE_STORE must be memory:// or rocksdb://"),
    ("LIFELINE_DATABASE_URL", "lifeline.db", "LIFELINE_DATABASE_URL must be an SQLAlchemy URL"),
    ("LIFELINE_SINK_INTERVAL", "-1", "LIFELINE_SINK_INTERVAL must be in"),
    ("LIFELINE_LIVE_TICK_SECONDS", "-5", "LIFELINE_LIVE_TICK_SECONDS must be in"),
    ("LIFELINE_DEDUP_HOURS", "1000", "LIFELINE_DEDUP_HOURS must be in"),
    ("LIFELINE_DEDUP_MAX_IDS", "0", "LIFELINE_DEDUP_MAX_IDS must be >= 1"),
    ("LIFELINE_DEDUP_WINDOW", "32", "LIFELINE_DEDUP_WINDOW is gone"),
])
def test_settings__bad_value_names_the_variable(name: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env({name: value})


def test_settings__database_timeouts_and_row_backpressure() -> None:
    s = Settings.from_env({"LIFELINE_DB_CONNECT_TIMEOUT_S": "3",
                           "LIFELINE_DB_STATEMENT_TIMEOUT_S": "30",
                           "LIFELINE_DB_LOCK_TIMEOUT_S": "0",
                           "LIFELINE_SINK_MAX_PENDING_ROWS": "5000"})
    assert (s.db_connect_timeout_s, s.db_statement_timeout_s, s.db_lock_timeout_s) == (
        3.0, 30.0, 0.0)
    assert s.sink_max_pending_rows == 5000
    defaults = Settings.from_env({})
    assert (defaults.db_connect_timeout_s, defaults.db_statement_timeout_s,
            defaults.db_lock_timeout_s, defaults.sink_max_pending_rows) == (10.0, 60.0, 10.0,
                                                                            200_000)
    with pytest.raises(ValueError, match="LIFELINE_DB_STATEMENT_TIMEOUT_S must be in"):
        Settings.from_env({"LIFELINE_DB_STATEMENT_TIMEOUT_S": "-1"})


def test_settings__signing_key_inline_or_file_never_echoed(tmp_path: Path) -> None:
    assert Settings.from_env({}).signing_key is None
    secret = "s3cret-signing-key-0123456789"
    assert Settings.from_env({"LIFELINE_SIGNING_KEY": secret}).signing_key == secret.encode()
    key_file = tmp_path / "key"
    key_file.write_bytes(b"\x00\x01binary key of 32 bytes......\n")
    loaded = Settings.from_env({"LIFELINE_SIGNING_KEY_FILE": str(key_file)})
    assert loaded.signing_key == b"\x00\x01binary key of 32 bytes......"
    assert secret not in repr(Settings.from_env({"LIFELINE_SIGNING_KEY": secret}))
    assert "internal messages signed" in loaded.describe()
    bad = [{"LIFELINE_SIGNING_KEY": "short-secret"},
           {"LIFELINE_SIGNING_KEY": secret, "LIFELINE_SIGNING_KEY_FILE": str(key_file)},
           {"LIFELINE_SIGNING_KEY_FILE": str(tmp_path / "missing")}]
    for env in bad:
        with pytest.raises(ValueError) as error:
            Settings.from_env(env)
        assert "short-secret" not in str(error.value) and secret not in str(error.value)


def test_settings__consumer_fetch_wait_and_monitor() -> None:
    defaults = Settings.from_env({})
    assert (defaults.fetch_wait_ms, defaults.faust_monitor) == (100, "quiet")
    assert defaults.producer_linger_ms == 5.0
    s = Settings.from_env({"LIFELINE_FETCH_WAIT_MS": "500", "LIFELINE_FAUST_MONITOR": "Faust",
                           "LIFELINE_PRODUCER_LINGER_MS": "20"})
    assert (s.fetch_wait_ms, s.faust_monitor, s.producer_linger_ms) == (500, "faust", 20.0)
    with pytest.raises(ValueError, match="LIFELINE_PRODUCER_LINGER_MS must be in"):
        Settings.from_env({"LIFELINE_PRODUCER_LINGER_MS": "5000"})
    with pytest.raises(ValueError, match="LIFELINE_FETCH_WAIT_MS must be >= 1"):
        Settings.from_env({"LIFELINE_FETCH_WAIT_MS": "0"})
    with pytest.raises(ValueError, match="LIFELINE_FAUST_MONITOR must be quiet or faust"):
        Settings.from_env({"LIFELINE_FAUST_MONITOR": "prometheus"})
