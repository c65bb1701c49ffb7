"""What processing one message produces, and the order in which it takes effect.

A step (online_models.engine) works on a copy of the user's state. Its outputs and the new
state are collected in an :class:`Effects`; :meth:`Effects.settle` first sends the outputs and
only once the producer accepted every one of them keeps the new states (profile table, its
decoded copy in streams/runtime/hot_states.py, and due schedule). A send that fails is a
broker error: it is retried with backoff, never dead-lettered as bad input, and a message
processed again after a crash (its state was not kept) produces the outputs that were not
sent. :meth:`Effects.publish` then hands the rows, the kept states
(for the changelog) and the training examples to the database sink with the message's ack;
a tick that re-assesses many users publishes in chunks of at most about ``max_rows`` rows
and states.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

from online_models.engine import Emits
from online_models.profile import UserState
from online_models.training import TrainingExample
from streams.records import DeadLetter, dead_letter_key
from streams.runtime.channels import (
    churn_alerts_topic,
    dead_letters_topic,
    segment_changes_topic,
    user_events_topic,
    winback_outcomes_topic,
)
from streams.runtime.continuity import until_done
from streams.runtime.outputs import ALERTS, OUTCOMES, alert_row, change_rows, outcome_row, sink
from streams.runtime.tables import hot_profiles, profiles_for_user
from streams.runtime.worker_state import PartitionState, WorkerState
from streams.storage.database_sink import Ack, Row, Upsert

log = logging.getLogger(__name__)

# Rows and states per sink call when one message re-assesses many users (a tick): the sink
# flushes and applies backpressure between chunks instead of taking a whole partition at once.
MAX_ROWS = 2000


@dataclass(frozen=True, slots=True)
class Source:
    """Where a ``user-events`` message came from: enough to dead-letter or replay it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    headers: Any = None


async def send(channel: Any, **message: Any) -> None:
    """Send one message, retrying with backoff until the producer accepts it."""
    await until_done(f"send to {channel.get_topic_name()}", lambda: channel.send(**message))


class Effects:
    """One message's outputs, new states and rows, for one source partition.

    ``max_rows`` bounds the rows and states of one sink call (see :meth:`full`; default
    ``MAX_ROWS``; one user's step may go a few rows past it).
    """

    def __init__(self, part: PartitionState, *, max_rows: int | None = None) -> None:
        self.part, self.max_rows = part, MAX_ROWS if max_rows is None else max_rows
        self._sends: deque[tuple[Any, bytes, bytes]] = deque()  # not yet accepted, in order
        # user -> (its new state, that state as the table stores it, its next due time)
        self._unkept: dict[str, tuple[UserState, bytes, float | None]] = {}
        self.rows: list[tuple[Upsert, Row]] = []
        self.states: dict[str, tuple[int, Any]] = {}  # kept states, for the changelog
        self.training: list[TrainingExample] = []

    def step(self, user_id: str, state: UserState, out: Emits) -> None:
        """Add one user's step: its outputs, rows, training examples and new state."""
        state.partition = self.part.partition
        self._unkept[user_id] = (state, state.to_bytes(), out.due)
        self.training.extend(out.training)
        key = user_id.encode()
        for change in out.changes:
            self._sends.append((segment_changes_topic, key, change.to_json()))
            self.rows.extend(change_rows(change))
        for alert in out.alerts:
            self.rows.append((ALERTS, alert_row(alert)))
            if not alert.control:  # the holdout group is recorded, never contacted
                self._sends.append((churn_alerts_topic, key, alert.to_json()))
        for outcome in out.outcomes:
            self.rows.append((OUTCOMES, outcome_row(outcome)))
            self._sends.append((winback_outcomes_topic, key, outcome.to_json()))

    def row(self, spec: Upsert, row: Row) -> None:
        """Add a database row."""
        self.rows.append((spec, row))

    @property
    def full(self) -> bool:
        """True once rows and states reach ``max_rows``: time to publish without the ack."""
        return len(self.rows) + len(self.states) + len(self._unkept) >= self.max_rows

    async def settle(self) -> None:
        """Send the outputs (each once, retried until accepted), then keep the new states."""
        while self._sends:
            channel, key, message = self._sends[0]
            await send(channel, key=key, value=message)
            self._sends.popleft()  # accepted: never sent again
        schedule, partition = self.part.schedule, self.part.partition
        for user_id, (state, value, due) in self._unkept.items():
            profiles_for_user.data[user_id] = value  # changelog after the database write
            hot_profiles.keep(user_id, state)  # the next step of the user starts from it
            self.states[user_id] = (partition, value)
            if due is None:
                schedule.unschedule(user_id)
            else:
                schedule.schedule(user_id, due)
        self._unkept.clear()

    async def publish(self, ack: Ack | None) -> None:
        """:meth:`settle`, then hand rows, states and training examples to the sink."""
        if self._sends or self._unkept:  # a message's own step is settled already
            await self.settle()
        rows, states, training = self.rows, self.states, self.training
        self.rows, self.states, self.training = [], {}, []
        await sink.put(rows, ack, states, outbox=training)  # training: sent once per flush

    async def publish_chunk(self) -> None:
        """:meth:`publish` what a long message produced so far (its ack comes with the last)."""
        await self.publish(None)
        await asyncio.sleep(0)  # let the sink's flusher start on this chunk


async def ack_in_order(ack: Ack | None) -> None:
    """Ack a message that writes no rows once every message before it is acked.

    Acks go through the sink so they stay in partition order: Faust commits up to the first
    unacked offset but lets one unacked offset at the head slip through (faust-streaming
    issue #606), so acking a dead letter before an earlier event's rows were written could
    commit past that event and lose it in a crash.
    """
    await sink.put((), ack)


async def send_dead_letter(worker: WorkerState, src: Source, value: bytes, reason: str,
                           detail: str, *, index: int | None = None) -> None:
    """Publish a refused message (or, with ``index``, one refused event of a batch: ``value``
    is that event alone) with why and where it came from; no ack."""
    worker.stats["dead_letters"] += 1
    where = "" if index is None else f"[{index}]"
    log.info("dead letter %s[%s]@%s%s: %s %s", src.topic, src.partition, src.offset, where,
             reason, detail)
    await send(dead_letters_topic, key=dead_letter_key(src.key), value=DeadLetter.of(
        reason=reason, detail=detail, topic=src.topic, partition=src.partition,
        offset=src.offset, key=src.key, value=value, index=index))


async def dead_letter(worker: WorkerState, src: Source, value: bytes, ack: Ack | None,
                      reason: str, detail: str) -> None:
    """Publish the original message with why and where it came from; ack it in turn."""
    await send_dead_letter(worker, src, value, reason, detail)
    await ack_in_order(ack)


async def rekey(worker: WorkerState, user_id: str, value: bytes, ack: Ack | None) -> None:
    """Re-publish an event keyed otherwise with its user's key (tables are sharded by user).

    It is counted when it arrives on the user's partition.
    """
    await rekey_batch(worker, user_id, value, 1)
    await ack_in_order(ack)


async def rekey_batch(worker: WorkerState, user_id: str, value: bytes, events: int) -> None:
    """Re-publish ``events`` events of one user (one event, or a JSON array of them) with the
    user's key; no ack."""
    worker.stats["rekeyed"] += events
    await send(user_events_topic, key=user_id.encode(), value=value)
