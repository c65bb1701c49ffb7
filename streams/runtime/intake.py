"""Around each ``user-events`` message: ready the assignment, fill gaps, move the mark.

The worker's side of continuity.py. Before the first message of an assignment the worker
forgets its hot states, waits for the newest model, completes the table's recovery, rebuilds
its partitions' runtime state from the table (:class:`WorkerState`) and gives partitions
without a mark their start offset. Before every message, what the consumer skipped between
the partition's mark and the message is read from the broker and applied first; after every
message the mark moves past it, in the table and (with or after the message's states) in the
changelog.
"""

from __future__ import annotations

import gc
import logging
import sys
from collections.abc import Awaitable, Callable

from aiokafka import TopicPartition
from faust.types import TP

from online_models.profile import storable
from streams.app import app
from streams.runtime.channels import user_events_topic
from streams.runtime.continuity import (
    mark_key,
    read_chunks,
    release_skipped,
    start_offsets,
    until_done,
)
from streams.runtime.effects import Source
from streams.runtime.model_follower import models
from streams.runtime.outputs import sink
from streams.runtime.tables import complete_recovery, hot_profiles, profiles_for_user
from streams.runtime.worker_state import WorkerState
from streams.settings import settings
from streams.storage.database_sink import Ack

log = logging.getLogger(__name__)

Apply = Callable[[Source, bytes, Ack | None], Awaitable[None]]


async def prepare(worker: WorkerState) -> None:
    """Before the first message of an assignment: newest model, complete table, partitions."""
    assignment = worker.assignment
    hot_profiles.clear()  # the table is recovered: decode every user from it again
    await models.synced.wait()  # score with the newest published model, never a blank one
    await complete_recovery(profiles_for_user)
    worker.rebuild(profiles_for_user.items())  # one pass over the whole table
    log.info("rebuilt watermarks for partitions %s, %d users scheduled",
             sorted(worker.watermarks()), sum(len(p.schedule) for p in
                                              worker.partitions.values()))
    await start_unmarked(worker)
    worker.ready(assignment)
    tune_process()


# How long a thread may hold the GIL while another waits for it (Python's default: 5 ms).
GIL_SWITCH_S = 0.001
_tuned: list[bool] = []


def tune_process() -> None:
    """Once, when the worker is first ready: freeze the heap and shorten the GIL's switch
    interval, so that nothing holds the event loop for long (bench/loop_blocks.py).

    * ``gc.freeze``: what is alive then lives as long as the process (modules, classes,
      functions, Faust's and aiokafka's structures, about 200,000 tracked objects). A full
      collection walks every tracked object while the event loop waits: without this each
      took 150-400 ms on a loaded 2-core machine. Frozen objects are still freed when nothing
      refers to them; only reference cycles among them are never collected.
    * ``sys.setswitchinterval(GIL_SWITCH_S)``: the event loop shares the GIL with Faust's
      consumer thread, the sink's database thread and the trainer's learning thread; each
      time the loop comes back from I/O it waits for a thread that computes to let go, up
      to the interval.
    """
    if _tuned:
        return
    _tuned.append(True)
    gc.collect()
    gc.freeze()
    sys.setswitchinterval(GIL_SWITCH_S)
    log.info("garbage collector: %d objects of the started worker frozen; GIL switch interval "
             "%s s", gc.get_freeze_count(), GIL_SWITCH_S)


async def start_unmarked(worker: WorkerState) -> None:
    """Give the assigned source partitions without a mark the offset they start at."""
    topic = user_events_topic.get_topic_name()
    tps = [TopicPartition(tp.topic, tp.partition) for tp in app.assignor.assigned_actives()
           if tp.topic == topic and worker[tp.partition].mark is None]
    if not tps:
        return
    starts = await until_done(f"start offsets of {tps}", lambda: start_offsets(
        settings.bootstrap, settings.app_id, tps, security=settings.kafka))
    for tp, offset in starts.items():
        worker[tp.partition].mark = offset
    log.info("partitions without a mark start at %s",
             {tp.partition: offset for tp, offset in sorted(starts.items())})


async def before(worker: WorkerState, src: Source, apply: Apply) -> None:
    """Ready the worker for ``src``: prepare a new assignment, apply what was skipped."""
    if worker.stale:
        await prepare(worker)
    await fill_gap(worker, src, apply)
    part = worker[src.partition]
    # Skipped offsets are applied now: let Faust commit past them.
    await release_skipped(app.consumer, TP(src.topic, src.partition), part.delivered,
                          src.offset)
    part.delivered = src.offset


def applied(worker: WorkerState, src: Source) -> None:
    """Move the partition's mark past ``src`` (call it once ``src`` is processed)."""
    key = mark_key(src.partition)
    mark = storable(worker[src.partition].advance_mark(src.offset))
    profiles_for_user.data[key] = mark
    sink.mark(key, src.partition, mark)  # reaches the changelog with (or after) the states


async def fill_gap(worker: WorkerState, src: Source, apply: Apply) -> None:
    """Apply, in order, what the consumer skipped between the partition's mark and ``src``."""
    gap = worker[src.partition].gap(src.offset)
    if gap is None:
        return
    start, end = gap
    log.warning("%s[%s]: the stream jumped from %s to %s; reading the %d messages between "
                "from the broker", src.topic, src.partition, start, end, end - start)
    # In bounded chunks: each message moves the partition's mark as it is applied.
    async for chunk in read_chunks(settings.bootstrap, src.topic, src.partition, start, end,
                                   security=settings.kafka):
        for m in chunk:
            worker.stats["refetched"] += 1
            await apply(Source(m.topic, m.partition, m.offset, m.key, m.headers), m.value, None)
