"""The right to erasure at run time: one user's state, schedule, rows and changelog, gone.

:func:`erase` runs on the worker that owns the user's partition (``user-erasures`` is
co-partitioned with ``user-events``), holding that partition's lock, which the ingest agent
holds for every message it handles (:data:`locks`): no event of the partition is applied
while a user of it is erased. In order, it

1. flushes the database sink (rows and states of messages applied before the erasure
   reach the database and the changelog first, so nothing written later brings them back);
2. drops the user's state from the table, its decoded copy (hot_states.py) and the due
   schedule, and keeps an erased marker
   (streams/privacy/erasure.py) in its place: events of the user up to the erasure's event
   time are dropped when they are read again (:func:`erased_before`);
3. deletes the user's rows from every user table (streams/storage/erasure.py);
4. writes a tombstone for the user's key and the marker to the table's changelog and waits
   for the broker: a restarted worker recovers neither the state nor the user.

The caller publishes the receipt. A crash before the request is committed repeats it after
the restart (each step is idempotent; the second receipt lists what was left to remove).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy import Engine

from online_models.contract import Event
from online_models.profile import placement, storable, stored
from streams.privacy.erasure import ErasureRequest, erased_before, erased_key, receipt
from streams.runtime.continuity import until_done
from streams.runtime.faust_private import changelog_sent_callback
from streams.runtime.outputs import sink
from streams.runtime.tables import hot_profiles, profiles_for_user
from streams.settings import settings
from streams.storage.erasure import delete_user_rows
from streams.storage.schema import make_engine

log = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])

stats = {"erased": 0, "dropped": 0}


class PartitionLocks:
    """One asyncio lock per source partition: ingest and erasure of a partition never
    interleave (an uncontended acquire costs about a microsecond)."""

    def __init__(self) -> None:
        self._locks: defaultdict[int, asyncio.Lock] = defaultdict(asyncio.Lock)

    def __call__(self, partition: int) -> asyncio.Lock:
        return self._locks[partition]

    def serial(self, handler: F) -> F:
        """Decorate ``handler(src, ...)`` to run holding the lock of ``src.partition``."""

        async def serialised(src: Any, *args: Any, **kwargs: Any) -> Any:
            async with self._locks[src.partition]:
                return await handler(src, *args, **kwargs)

        serialised.__doc__, serialised.__name__ = handler.__doc__, handler.__name__
        return serialised  # type: ignore[return-value]  # same signature as ``handler``


locks = PartitionLocks()


def unerased(user_id: str, events: list[Event]) -> list[Event]:
    """``events`` of ``user_id`` without those erased already (dropped, counted): the ones
    at or before the time of the user's erased marker. One look-up of the marker.

    A membership test first: almost no user has a marker, and the table's ``get`` of a
    missing key goes through ``__getitem__`` and a caught ``KeyError``.
    """
    key, table = erased_key(user_id), profiles_for_user.data
    if key not in table:
        return events
    marker = stored(table[key])  # decoded once
    kept = [e for e in events if not erased_before(marker, e.ts)]
    stats["dropped"] += len(events) - len(kept)
    return kept


_engine: list[Engine] = []


def _delete_rows(user_id: str) -> dict[str, int]:
    if not _engine:
        _engine.append(make_engine(settings.database_url))
    return delete_user_rows(_engine[0], [user_id])


async def write_changelog(items: dict[str, Any], partition: int) -> None:
    """Write ``{key: value | None}`` (None: a tombstone) to the table's changelog partition
    and wait until the broker has them."""
    table = profiles_for_user
    pending = [await table.changelog_topic.send(
        key=key, value=value, partition=partition,
        callback=changelog_sent_callback(table)) for key, value in items.items()]
    await asyncio.gather(*pending)


async def erase(request: ErasureRequest, user_key: str, partition: int, *,
                unschedule: Callable[[int, str], bool]) -> dict[str, Any]:
    """Erase ``user_key`` (the table key) of ``partition``; the caller holds its lock.

    Returns the receipt. ``unschedule(partition, user_key)`` removes the user from the due
    schedule (True if it was there).
    """
    await sink.flush()
    state = profiles_for_user.data.pop(user_key, None)
    hot_profiles.drop(user_key)
    scheduled = unschedule(partition, user_key)
    covered_to = max(request.at, placement(state).last_seen or 0.0)
    marker = storable({"at": covered_to})
    profiles_for_user.data[erased_key(user_key)] = marker
    rows = await until_done(f"erasing the rows of a user of partition {partition}",
                            lambda: asyncio.to_thread(_delete_rows, user_key))
    await until_done(f"changelog tombstone of partition {partition}", lambda: write_changelog(
        {user_key: None, erased_key(user_key): marker}, partition))
    stats["erased"] += 1
    log.info("erased a user of partition %s (request %s, %s): state %s, schedule %s, rows %s",
             partition, request.request_id, request.reason, state is not None, scheduled, rows)
    return receipt(request, user_key, covered_to=covered_to, erased_at=time.time(),
                   state=state is not None, schedule=scheduled, rows=rows)


async def request_expiry(user_key: str, partition: int, last_seen: float) -> None:
    """Ask for the erasure of a user silent longer than ``LIFELINE_USER_TTL_DAYS`` (event
    time): the request goes through ``user-erasures`` like any other, to the same partition.
    It covers the user's events up to ``last_seen``: a later one is a new life."""
    from streams.privacy.erasure import request_value
    from streams.runtime.channels import user_erasures_topic

    await user_erasures_topic.send(key=user_key.encode(), partition=partition, value=(
        request_value(user_key, at=last_seen, reason="ttl", internal=True)))
