"""A Faust monitor without per-message bookkeeping (``LIFELINE_FAUST_MONITOR=quiet``).

Faust's default :class:`faust.sensors.Monitor` updates counters, timestamps and a runtime
deque for every message in and out, every stream event, every table read and write and every
send. Lifeline reads none of it (its own counters are in ``WorkerState.stats``); the web
server's ``/stats`` page is the only reader. :class:`QuietMonitor` keeps the rare hooks
(commits, rebalances, assignment) and drops the per-message ones.
"""

from __future__ import annotations

from typing import Any

from faust.sensors import Monitor


class QuietMonitor(Monitor):
    """:class:`faust.sensors.Monitor` minus the per-message and per-event hooks."""

    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        """Nothing per message."""

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        """Nothing per event (no state for ``on_stream_event_out``)."""
        return None

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        """Nothing per event."""

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        """Nothing per message."""

    def on_table_get(self, table: Any, key: Any) -> None:
        """Nothing per table read."""

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        """Nothing per table write."""

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int,
                          valsize: int) -> Any:
        """Nothing per send."""
        return None

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        """Nothing per send."""
