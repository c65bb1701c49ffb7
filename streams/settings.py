"""The one settings object: every environment variable Lifeline reads is read here.

``Settings.from_env()`` validates everything up front and raises ``ValueError`` naming the
variable, so a misconfigured container fails at start with a readable message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from online_models.alerts import AlertPolicy
from online_models.engine import EngineConfig
from online_models.lifecycle import LifecyclePolicy
from online_models.profile import ProfileConfig
from online_models.signing import MIN_KEY_BYTES
from streams.kafka_clients import KafkaSecurity

PREFIX = "LIFELINE_"


def _get(env: Mapping[str, str], name: str, default: str) -> str:
    value = env.get(PREFIX + name, "").strip()
    return value or default


def _int(env: Mapping[str, str], name: str, default: int, *, minimum: int = 0) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{PREFIX}{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{PREFIX}{name} must be >= {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0,
           maximum: float | None = None) -> float:
    raw = _get(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{PREFIX}{name} must be a number, got {raw!r}") from None
    if value < minimum or (maximum is not None and value > maximum):
        raise ValueError(f"{PREFIX}{name} must be in [{minimum}, {maximum}], got {value}")
    return value


def _secret(env: Mapping[str, str], name: str) -> str | None:
    """``LIFELINE_<name>``, or the content of the file ``LIFELINE_<name>_FILE`` names.

    Errors name the variable or the file, never the secret.
    """
    value, path = _get(env, name, ""), _get(env, f"{name}_FILE", "")
    if value and path:
        raise ValueError(f"set {PREFIX}{name} or {PREFIX}{name}_FILE, not both")
    if not path:
        return value or None
    try:
        with open(path, encoding="utf-8") as handle:
            secret = handle.read().strip()
    except OSError as exc:
        raise ValueError(f"{PREFIX}{name}_FILE: cannot read {path}: {exc.strerror}") from None
    if not secret:
        raise ValueError(f"{PREFIX}{name}_FILE: {path} is empty")
    return secret


def _kafka(env: Mapping[str, str]) -> KafkaSecurity:
    def optional(name: str) -> str | None:
        return _get(env, name, "") or None

    try:
        return KafkaSecurity(
            protocol=_get(env, "KAFKA_SECURITY_PROTOCOL", "PLAINTEXT").upper(),
            mechanism=(optional("KAFKA_SASL_MECHANISM") or "").upper() or None,
            username=optional("KAFKA_SASL_USERNAME"),
            password=_secret(env, "KAFKA_SASL_PASSWORD"),
            cafile=optional("KAFKA_SSL_CAFILE"),
            certfile=optional("KAFKA_SSL_CERTFILE"),
            keyfile=optional("KAFKA_SSL_KEYFILE"),
        )
    except ValueError as exc:
        raise ValueError(f"{PREFIX}KAFKA_*: {exc}") from None


def _retention(env: Mapping[str, str]) -> dict[str, float]:
    """``LIFELINE_RETENTION_DAYS=user-events=7,churn-alerts=30``: per-topic overrides."""
    raw = _get(env, "RETENTION_DAYS", "")
    out: dict[str, float] = {}
    for item in filter(None, (part.strip() for part in raw.split(","))):
        name, _, days = item.partition("=")
        try:
            out[name.strip()] = float(days)
        except ValueError:
            raise ValueError(f"{PREFIX}RETENTION_DAYS must look like topic=days[,topic=days], "
                             f"got {item!r}") from None
        if out[name.strip()] <= 0 and out[name.strip()] != -1:
            raise ValueError(f"{PREFIX}RETENTION_DAYS: {name} must be > 0 days (or -1: keep)")
    return out


def redact_url(url: str) -> str:
    """A URL with any ``user:password@`` part masked, for errors and logs.

    >>> redact_url("kafka://app:pw@broker:9092"), redact_url("kafka://broker:9092")
    ('kafka://***@broker:9092', 'kafka://broker:9092')
    """
    scheme, sep, rest = url.partition("://")
    if sep and "@" in rest.split("/", 1)[0]:
        return f"{scheme}://***@{rest.split('@', 1)[1]}"
    return url
def _signing_key(env: Mapping[str, str]) -> bytes | None:
    """``LIFELINE_SIGNING_KEY`` (UTF-8) or the bytes of ``LIFELINE_SIGNING_KEY_FILE`` (one
    trailing newline dropped); never echoed in an error."""
    inline, path = _get(env, "SIGNING_KEY", ""), _get(env, "SIGNING_KEY_FILE", "")
    if inline and path:
        raise ValueError(f"set {PREFIX}SIGNING_KEY or {PREFIX}SIGNING_KEY_FILE, not both")
    if path:
        try:
            with open(path, "rb") as f:
                key = f.read(4097)
        except OSError as exc:
            raise ValueError(f"{PREFIX}SIGNING_KEY_FILE cannot be read: {exc.strerror}") from None
        key = key[:-1] if key.endswith(b"\n") else key
    elif inline:
        key = inline.encode("utf-8")
    else:
        return None
    if not MIN_KEY_BYTES <= len(key) <= 4096:
        name = "SIGNING_KEY_FILE" if path else "SIGNING_KEY"
        raise ValueError(f"{PREFIX}{name} must hold {MIN_KEY_BYTES} to 4096 bytes "
                         "(e.g. 32 random bytes, hex-encoded)")
    return key


def _trainer(env: Mapping[str, str]) -> str:
    value = _get(env, "TRAINER", Settings.trainer).lower()
    if value not in ("process", "thread"):
        raise ValueError(f"{PREFIX}TRAINER must be process or thread, got {value!r}")
    return value


def _monitor(env: Mapping[str, str]) -> str:
    value = _get(env, "FAUST_MONITOR", Settings.faust_monitor).lower()
    if value not in ("quiet", "faust"):
        raise ValueError(f"{PREFIX}FAUST_MONITOR must be quiet or faust, got {value!r}")
    return value


def _engine(env: Mapping[str, str]) -> EngineConfig:
    if _get(env, "DEDUP_WINDOW", ""):
        raise ValueError(f"{PREFIX}DEDUP_WINDOW is gone: duplicates are dropped within "
                         f"{PREFIX}DEDUP_HOURS of event time (cap: {PREFIX}DEDUP_MAX_IDS)")
    horizon = _float(env, "CHURN_HORIZON_DAYS", 90.0, minimum=1.0)
    enter = _float(env, "ALERT_THRESHOLD", 0.7, minimum=0.0, maximum=1.0)
    return EngineConfig(
        profile=ProfileConfig(
            half_life_days=_float(env, "AFFINITY_HALF_LIFE_DAYS", 30.0, minimum=0.001),
            session_gap_minutes=_float(env, "SESSION_GAP_MINUTES", 30.0, minimum=0.001),
            dedup_hours=_float(env, "DEDUP_HOURS", 24.0, minimum=0.017, maximum=720.0),
            dedup_max_ids=_int(env, "DEDUP_MAX_IDS", 5000, minimum=1),
        ),
        horizon_days=horizon,
        rescore_days=_float(env, "RESCORE_DAYS", 7.0, minimum=0.001),
        assess_every_minutes=_float(env, "ASSESS_EVERY_MINUTES", 60.0),
        alerts=AlertPolicy(
            enter_threshold=enter,
            exit_threshold=_float(env, "ALERT_EXIT_THRESHOLD", min(enter, 0.5), maximum=enter),
            cooldown_days=_float(env, "ALERT_COOLDOWN_DAYS", 30.0),
            min_value=_float(env, "ALERT_MIN_VALUE", 0.01),
            control_share=_float(env, "CONTROL_SHARE", 0.1, maximum=1.0),
            attribution_days=_float(env, "ATTRIBUTION_DAYS", 14.0),
            expiry_days=_float(env, "OFFER_EXPIRY_DAYS", 7.0),
        ),
        lifecycle=LifecyclePolicy(
            new_days=_float(env, "NEW_DAYS", 30.0, minimum=0.001),
            at_risk_days=_float(env, "AT_RISK_DAYS", horizon / 2, minimum=0.001),
            churned_days=_float(env, "CHURNED_DAYS", horizon, minimum=0.001),
        ),
        interest_k=_int(env, "INTEREST_SEGMENTS", 8, minimum=1),
    )


@dataclass(frozen=True, kw_only=True)
class Settings:
    """Lifeline's configuration; each field names the environment variable that sets it."""

    broker: str = "kafka://127.0.0.1:9092"  # LIFELINE_BROKER
    # LIFELINE_DATABASE_URL or LIFELINE_DATABASE_URL_FILE (out of repr: it holds a password)
    database_url: str = field(default="sqlite:///var/lifeline.db", repr=False)
    partitions: int = 4  # LIFELINE_PARTITIONS (source topics and tables)
    store: str = "memory://"  # LIFELINE_STORE: memory:// or rocksdb://
    app_id: str = "lifeline"  # LIFELINE_APP_ID: consumer group and changelog topic prefix
    topic_prefix: str = ""  # LIFELINE_TOPIC_PREFIX: prepended to every topic name
    data_dir: str = "var/faust"  # LIFELINE_DATA_DIR: Faust table state
    web_port: int = 6066  # LIFELINE_WEB_PORT: the worker's web server (``--without-web``: none)
    web_bind: str = "127.0.0.1"  # LIFELINE_WEB_BIND: its interface (0.0.0.0: every interface)
    replication: int = 1  # LIFELINE_REPLICATION: replication factor of created topics
    sink_batch: int = 2000  # LIFELINE_SINK_BATCH: rows per database write
    sink_interval: float = 1.0  # LIFELINE_SINK_INTERVAL: seconds between flushes
    sink_max_pending: int = 50_000  # LIFELINE_SINK_MAX_PENDING: backpressure bound (events)
    sink_max_pending_rows: int = 200_000  # LIFELINE_SINK_MAX_PENDING_ROWS: ... and in rows
    db_connect_timeout_s: float = 10.0  # LIFELINE_DB_CONNECT_TIMEOUT_S (0: none)
    db_statement_timeout_s: float = 60.0  # LIFELINE_DB_STATEMENT_TIMEOUT_S (0: none)
    db_lock_timeout_s: float = 10.0  # LIFELINE_DB_LOCK_TIMEOUT_S (0: none)
    max_future_skew_s: float = 86_400.0  # LIFELINE_MAX_FUTURE_SKEW_S
    max_batch_events: int = 500  # LIFELINE_MAX_BATCH_EVENTS: events per collector batch
    # LIFELINE_HOT_STATES: decoded states of recently active users kept in memory per worker
    # (streams/runtime/hot_states.py; 0: off)
    hot_states: int = 20_000
    snapshot_examples: int = 2000  # LIFELINE_SNAPSHOT_EXAMPLES: publish models every n examples
    snapshot_seconds: float = 5.0  # LIFELINE_SNAPSHOT_SECONDS: ... or this often (if any new)
    churn_min_labels: int = 2000  # LIFELINE_CHURN_MIN_LABELS: the learner serves no sooner
    # LIFELINE_TRAINER: where the trainer learns (streams/runtime/learning.py): ``process``, a
    # child process of the worker that runs it, or ``thread``, a thread of that worker (which
    # then shares the worker's interpreter lock with its event loop).
    trainer: str = "process"
    live_tick_seconds: float = 0.0  # LIFELINE_LIVE_TICK_SECONDS: wall-clock ticks (0: off)
    session_timeout_s: float = 30.0  # LIFELINE_SESSION_TIMEOUT_S: consumer group session
    # LIFELINE_FETCH_WAIT_MS: longest wait of a consumer fetch for data to arrive. Kafka answers
    # a fetch as soon as data is there; a broker that holds it for the whole wait (Tansu) adds
    # up to this much to a live event's latency. Faust alone would wait 1,500 ms.
    fetch_wait_ms: int = 100
    # LIFELINE_FAUST_MONITOR: ``quiet`` (Faust's monitor without per-message hooks, see
    # streams/runtime/monitor.py; the web /stats page then shows no message counts) or
    # ``faust`` (Faust's own).
    faust_monitor: str = "quiet"
    # LIFELINE_PRODUCER_LINGER_MS: how long the worker's producer (outputs, changelog, training)
    # waits to fill a batch before sending it.
    producer_linger_ms: float = 5.0
    # LIFELINE_KAFKA_SECURITY_PROTOCOL, _SASL_MECHANISM, _SASL_USERNAME, _SASL_PASSWORD(_FILE),
    # _SSL_CAFILE, _SSL_CERTFILE, _SSL_KEYFILE (see streams/kafka_clients.py)
    kafka: KafkaSecurity = field(default_factory=KafkaSecurity)
    # LIFELINE_PSEUDONYM_KEY(_FILE): user ids become keyed HMAC pseudonyms at ingest (None: off)
    pseudonym_key: bytes | None = field(default=None, repr=False)
    user_ttl_days: float = 730.0  # LIFELINE_USER_TTL_DAYS: erase users silent this long (0: off)
    # LIFELINE_RETENTION_DAYS: per-topic retention overrides (see streams/topics.py)
    retention_days: dict[str, float] = field(default_factory=dict)
    # LIFELINE_SIGNING_KEY or LIFELINE_SIGNING_KEY_FILE: HMAC key of the internal messages
    # (model snapshots, training batches, operator ticks); None: unsigned, accepted as is.
    signing_key: bytes | None = field(default=None, repr=False)
    engine: EngineConfig = field(default_factory=EngineConfig)
    # LIFELINE_AFFINITY_HALF_LIFE_DAYS, LIFELINE_SESSION_GAP_MINUTES, LIFELINE_DEDUP_HOURS,
    # LIFELINE_DEDUP_MAX_IDS,
    # LIFELINE_CHURN_HORIZON_DAYS, LIFELINE_RESCORE_DAYS, LIFELINE_ASSESS_EVERY_MINUTES,
    # LIFELINE_ALERT_THRESHOLD,
    # LIFELINE_ALERT_EXIT_THRESHOLD, LIFELINE_ALERT_COOLDOWN_DAYS, LIFELINE_ALERT_MIN_VALUE,
    # LIFELINE_CONTROL_SHARE, LIFELINE_ATTRIBUTION_DAYS, LIFELINE_OFFER_EXPIRY_DAYS,
    # LIFELINE_NEW_DAYS, LIFELINE_AT_RISK_DAYS, LIFELINE_CHURNED_DAYS, LIFELINE_INTEREST_SEGMENTS

    @property
    def profile(self) -> ProfileConfig:
        """How per-user profiles are updated."""
        return self.engine.profile

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read and validate ``LIFELINE_*`` variables (``env`` defaults to ``os.environ``)."""
        env = os.environ if env is None else env
        broker = _get(env, "BROKER", cls.broker)
        if not broker.startswith(("kafka://", "aiokafka://")):
            raise ValueError(f"{PREFIX}BROKER must look like kafka://host:port, got "
                             f"{redact_url(broker)!r}")
        store = _get(env, "STORE", cls.store)
        if not store.startswith(("memory://", "rocksdb://", "aerospike://")):
            raise ValueError(f"{PREFIX}STORE must be memory:// or rocksdb://, got {store!r}")
        database_url = _secret(env, "DATABASE_URL") or cls.database_url
        if "://" not in database_url:
            # Never echo the value: it may hold a password.
            raise ValueError(f"{PREFIX}DATABASE_URL must be an SQLAlchemy URL "
                             "(dialect+driver://user:password@host/db)")
        return cls(
            broker=broker,
            database_url=database_url,
            partitions=_int(env, "PARTITIONS", cls.partitions, minimum=1),
            store=store,
            app_id=_get(env, "APP_ID", cls.app_id),
            topic_prefix=_get(env, "TOPIC_PREFIX", cls.topic_prefix),
            data_dir=_get(env, "DATA_DIR", cls.data_dir),
            web_port=_int(env, "WEB_PORT", cls.web_port),
            replication=_int(env, "REPLICATION", cls.replication, minimum=1),
            sink_batch=_int(env, "SINK_BATCH", cls.sink_batch, minimum=1),
            sink_interval=_float(env, "SINK_INTERVAL", cls.sink_interval, minimum=0.01),
            sink_max_pending=_int(env, "SINK_MAX_PENDING", cls.sink_max_pending, minimum=1),
            sink_max_pending_rows=_int(env, "SINK_MAX_PENDING_ROWS", cls.sink_max_pending_rows,
                                       minimum=1),
            db_connect_timeout_s=_float(env, "DB_CONNECT_TIMEOUT_S", cls.db_connect_timeout_s),
            db_statement_timeout_s=_float(env, "DB_STATEMENT_TIMEOUT_S",
                                          cls.db_statement_timeout_s),
            db_lock_timeout_s=_float(env, "DB_LOCK_TIMEOUT_S", cls.db_lock_timeout_s),
            max_future_skew_s=_float(env, "MAX_FUTURE_SKEW_S", cls.max_future_skew_s),
            max_batch_events=_int(env, "MAX_BATCH_EVENTS", cls.max_batch_events, minimum=1),
            hot_states=_int(env, "HOT_STATES", cls.hot_states, minimum=0),
            snapshot_examples=_int(env, "SNAPSHOT_EXAMPLES", cls.snapshot_examples, minimum=1),
            snapshot_seconds=_float(env, "SNAPSHOT_SECONDS", cls.snapshot_seconds, minimum=0.1),
            churn_min_labels=_int(env, "CHURN_MIN_LABELS", cls.churn_min_labels, minimum=1),
            trainer=_trainer(env),
            live_tick_seconds=_float(env, "LIVE_TICK_SECONDS", cls.live_tick_seconds),
            session_timeout_s=_float(env, "SESSION_TIMEOUT_S", cls.session_timeout_s,
                                     minimum=6.0),
            fetch_wait_ms=_int(env, "FETCH_WAIT_MS", cls.fetch_wait_ms, minimum=1),
            faust_monitor=_monitor(env),
            producer_linger_ms=_float(env, "PRODUCER_LINGER_MS", cls.producer_linger_ms,
                                      maximum=1000.0),
            signing_key=_signing_key(env),
            engine=_engine(env),
            web_bind=_get(env, "WEB_BIND", cls.web_bind),
            kafka=_kafka(env),
            pseudonym_key=(key.encode() if (key := _secret(env, "PSEUDONYM_KEY")) else None),
            user_ttl_days=_float(env, "USER_TTL_DAYS", cls.user_ttl_days),
            retention_days=_retention(env),
        )

    @property
    def database_url_redacted(self) -> str:
        """The database URL with its password masked, for logs and errors.

        >>> Settings(database_url="postgresql://app:s3cret@db/lifeline").database_url_redacted
        'postgresql://app:***@db/lifeline'
        """
        from sqlalchemy.engine import make_url

        try:
            return make_url(self.database_url).render_as_string(hide_password=True)
        except Exception:  # an unparsable URL: show only its scheme
            return self.database_url.split("://", 1)[0] + "://***"

    def describe(self) -> str:
        """One line for the start of a worker: what it connects to and where it keeps state."""
        return (f"broker {redact_url(self.broker)} ({self.kafka.describe()}), database "
                f"{self.database_url_redacted}, data dir {self.data_dir}, store {self.store}, "
                f"partitions {self.partitions}, app id {self.app_id}, topic prefix "
                f"{self.topic_prefix!r}, web bind {self.web_bind}, pseudonyms "
                f"{'on' if self.pseudonym_key else 'off'}, user TTL {self.user_ttl_days:g} days, "
                "internal messages "
                f"{'signed' if self.signing_key else 'NOT signed (no LIFELINE_SIGNING_KEY)'}")

    @property
    def bootstrap(self) -> str:
        """``host:port[,host:port]`` for plain Kafka clients."""
        return self.broker.split("://", 1)[1].replace(";", ",")

    def topic(self, name: str) -> str:
        """A topic's full name with the configured prefix."""
        return f"{self.topic_prefix}{name}"


settings = Settings.from_env()
