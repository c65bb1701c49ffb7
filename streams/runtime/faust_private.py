"""Every use of a private faust-streaming internal, in one place.

Lifeline relies on a few internals of faust-streaming (pinned in pyproject.toml to the tested
range) to close gaps the public API leaves open: booking offsets its consumer skipped (see
streams/runtime/continuity.py), writing changelog records it can await (outputs.py), and
completing a table recovery the broker under-reports (tables.py), and bounding how long the
consumer's fetch waits for data (``consumer_transport``: Faust hard-codes 1.5 s).
tests/unit/test_faust_private.py fails if any of them disappears in a Faust upgrade.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

# (owner, attribute) pairs this module touches; the unit test checks each one exists.
INTERNALS: tuple[tuple[str, str], ...] = (
    ("faust.transport.consumer:Consumer", "_committed_offset"),
    ("faust.transport.consumer:Consumer", "_add_gap"),
    ("faust.tables.base:Collection", "_on_changelog_sent"),
    ("faust.tables.base:Collection", "_to_key"),
    ("faust.tables.base:Collection", "_to_value"),
    ("faust.tables.recovery:Recovery", "active_offsets"),
    ("faust.transport.drivers.aiokafka:AIOKafkaConsumerThread", "_create_worker_consumer"),
    ("faust.transport.drivers.aiokafka:Consumer", "_new_consumer_thread"),
    ("aiokafka.consumer.consumer:AIOKafkaConsumer", "_fetch_max_wait_ms"),
)


def committed_offset(consumer: Any, tp: Any) -> int | None:
    """The offset Faust's consumer last committed for ``tp`` (None before any commit)."""
    offset: int | None = consumer._committed_offset.get(tp)
    return offset


def add_gap(consumer: Any, tp: Any, start: int, end: int) -> Awaitable[None]:
    """Book offsets ``start..end`` (inclusive) as never arriving, so commits can pass them."""
    gap: Awaitable[None] = consumer._add_gap(tp, start, end)
    return gap


def changelog_sent_callback(table: Any) -> Callable[..., Any]:
    """The table's callback for a changelog record the broker accepted (persisted offsets)."""
    callback: Callable[..., Any] = table._on_changelog_sent
    return callback


def table_key(table: Any, key: Any) -> Any:
    """A decoded changelog key as the table stores it."""
    return table._to_key(key)


def table_value(table: Any, value: Any) -> Any:
    """A decoded changelog value as the table stores it."""
    return table._to_value(value)


def recovered_offsets(app: Any) -> Mapping[Any, int]:
    """Per changelog partition, the offset table recovery read up to."""
    offsets: Mapping[Any, int] = app.tables.recovery.active_offsets
    return offsets


def consumer_transport(app: Any, fetch_wait_ms: int) -> Any:
    """Faust's aiokafka transport for ``app`` whose worker consumer waits at most
    ``fetch_wait_ms`` for a fetch to fill (Faust passes a fixed ``fetch_max_wait_ms=1500``).

    A broker that holds a fetch for its whole wait when nothing is there at request time
    (Tansu does; Kafka answers as soon as data arrives) otherwise delays a live event by up
    to 1.5 s. Install it with the public setter: ``app.transport = consumer_transport(...)``.
    """
    from faust.transport.drivers import aiokafka as driver

    class Thread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport: Any) -> Any:
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_max_wait_ms = fetch_wait_ms
            return consumer

    class BoundedConsumer(driver.Consumer):
        def _new_consumer_thread(self) -> Any:
            return Thread(self, loop=self.loop, beacon=self.beacon)

    class Transport(driver.Transport):
        Consumer = BoundedConsumer

    return Transport(app.conf.broker_consumer, app)
