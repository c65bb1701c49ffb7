"""The one Faust app. Start a worker with ``faust -A streams.app worker -l info``."""

from __future__ import annotations

import faust

from streams.settings import settings

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
    # Time to wait for a fresh consumer group: the broker used in tests is slow to settle.
    broker_session_timeout=30.0,
    broker_heartbeat_interval=3.0,
    producer_linger=0.005,
)


def main() -> None:
    """Entry point of ``python -m streams``: Faust's CLI plus Lifeline's commands."""
    app.main()


# Registered here so `faust -A streams.app <command>` sees them too (imports `app` above).
import streams.commands  # noqa: E402, F401
