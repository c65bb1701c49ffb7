"""Faust tables: what they hold is in their names."""

from __future__ import annotations

import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.types import TP

from streams.app import app
from streams.runtime.faust_private import recovered_offsets, table_key, table_value
from streams.runtime.hot_states import HotStates
from streams.runtime.offsets import log_ends, stop_quietly
from streams.settings import settings
from streams.topics import CHANGELOG_CONFIGS

log = logging.getLogger(__name__)

# user id -> online_models.profile.UserState as its compact JSON bytes (UserState.to_bytes()),
# stored as they are in the changelog ("raw"): a third of a decoded dict's memory, and a
# changelog write serializes nothing. Two other kinds of keys hold JSON bytes too: a
# partition's mark (streams/runtime/continuity.py) and an erased user's marker
# (streams/privacy/erasure.py); online_models.profile.stored decodes any of them. Records
# written by Faust's json codec (before) are JSON bytes too: they load unchanged.
profiles_for_user = app.Table(
    "profiles_for_user",
    default=None,
    key_type=str,
    value_type=bytes,  # Faust stores and sends it "raw"
    partitions=settings.partitions,
    extra_topic_configs=CHANGELOG_CONFIGS,  # erased users leave the changelog within days
)

# The same states of recently active users, decoded (streams/runtime/hot_states.py): a step
# starts from one instead of decoding the table's value. Cleared on every assignment.
hot_profiles = HotStates(settings.hot_states)


async def complete_recovery(table: Any) -> int:
    """Apply the changelog records of this worker's partitions that recovery did not read.

    Recovery reads each changelog partition up to the end the broker lists; on a broker that
    lists too little (see streams/runtime/offsets.py) the newest states of a few keys stay behind,
    and their events between those states and the committed offset would never be counted.
    This reads on from where recovery stopped to the end of the log (one fetch per partition
    on a broker that lists the end right) and applies what it finds, in log order. Returns
    the number of records applied. Call it before the first event of a new assignment.
    """
    topic = table.changelog_topic.get_topic_name()
    recovered = recovered_offsets(app)
    tps = sorted(TopicPartition(tp.topic, tp.partition)
                 for tp in app.assignor.assigned_actives() if tp.topic == topic)
    if not tps:
        return 0
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.bootstrap, group_id=None,
                                enable_auto_commit=False, client_id=f"{settings.app_id}-tail",
                                **settings.kafka.client_options())
    await consumer.start()
    applied = 0
    try:
        consumer.assign(tps)
        ends = await log_ends(consumer, tps)
        for tp in tps:
            done = recovered.get(TP(tp.topic, tp.partition))
            # From one record before where recovery says it stopped: applying a record twice,
            # in log order, changes nothing.
            start = 0 if done is None else max(done - 1, 0)
            if start >= ends[tp]:
                continue
            consumer.seek(tp, start)
            before = applied
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for msg in batch.get(tp, []):
                    if msg.offset >= ends[tp]:
                        break
                    key = table_key(table, app.serializers.loads_key(
                        table.key_type, msg.key, serializer=table.key_serializer))
                    if msg.value is None:
                        table.data.pop(key, None)
                    else:
                        table.data[key] = table_value(table, app.serializers.loads_value(
                            table.value_type, msg.value, serializer=table.value_serializer))
                    table.data.set_persisted_offset(TP(tp.topic, tp.partition), msg.offset)
                    applied += 1
            log.info("changelog %s[%s]: recovery read to %s, the log ends at %s: %d records "
                     "re-applied from %s", tp.topic, tp.partition, done, ends[tp],
                     applied - before, start)
    finally:
        await stop_quietly(consumer)
    return applied
