"""The one Faust app. Start a worker with ``faust -A streams.app worker -l info``."""

from __future__ import annotations

import logging
from pathlib import Path

import faust
from faust.sensors import Monitor

from streams.cli.commands import register
from streams.runtime.faust_private import consumer_transport
from streams.runtime.monitor import QuietMonitor
from streams.settings import settings

log = logging.getLogger(__name__)

# Faust creates only the last folder of its data dir: make the whole path, from any cwd.
Path(settings.data_dir).mkdir(parents=True, exist_ok=True)

app = faust.App(
    settings.app_id,
    broker=settings.broker,
    store=settings.store,
    topic_partitions=settings.partitions,
    topic_replication_factor=settings.replication,
    topic_allow_declare=True,
    datadir=settings.data_dir,
    autodiscover=["agents"],
    origin="streams",
    web_port=settings.web_port,
    # The web server listens on 127.0.0.1 unless LIFELINE_WEB_BIND says otherwise, and never
    # serves table contents (/table: any user's profile) or key routing (/router).
    web_bind=settings.web_bind,
    web_tables_enabled=False,
    web_router_enabled=False,
    # TLS / SASL of every Faust client (consumer, producer, admin): streams/kafka_clients.py.
    broker_credentials=settings.kafka.faust_credentials(),
    # How long a silent member keeps its partitions (a worker killed with -9 holds them this
    # long); the broker used in tests is slow to settle, so the default is generous.
    broker_session_timeout=settings.session_timeout_s,
    broker_heartbeat_interval=min(3.0, settings.session_timeout_s / 3),
    producer_linger=settings.producer_linger_ms / 1000.0,
    # Faust's per-message monitor bookkeeping is read only by the web /stats page.
    Monitor=QuietMonitor if settings.faust_monitor == "quiet" else Monitor,
)
# Before any topic or agent reaches the transport: bounded consumer fetch waits.
app.transport = consumer_transport(app, settings.fetch_wait_ms)


@app.task
async def log_configuration() -> None:
    """Say at start what this worker uses (the database password redacted)."""
    log.info("lifeline worker: %s", settings.describe())


def main() -> None:
    """Entry point of ``python -m streams``: Faust's CLI plus Lifeline's commands."""
    app.main()


# Registered here so `faust -A streams.app <command>` sees them too.
register(app)
