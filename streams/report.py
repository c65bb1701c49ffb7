"""Read-backs for operators: the demo summary and ``python -m streams report``."""

from __future__ import annotations

from collections import Counter

from sqlalchemy import func, select

from streams.db import UserProfile, make_engine
from streams.settings import Settings


def dead_letter_count(settings: Settings) -> int:
    """Messages in the dead-letter topic (sum of its partitions' end offsets)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topic("user-events-dlq")
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, client_id="lifeline-report")
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        ends = consumer.end_offsets([TopicPartition(topic, p) for p in parts])
        return int(sum(ends.values()))
    finally:
        consumer.close()


def summary_text(settings: Settings, *, elapsed: float | None = None) -> str:
    """Users, events, revenue, top categories (database) and dead letters (broker)."""
    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            users, events, purchases, revenue = conn.execute(
                select(func.count(), func.coalesce(func.sum(UserProfile.events), 0),
                       func.coalesce(func.sum(UserProfile.purchases), 0),
                       func.coalesce(func.sum(UserProfile.revenue), 0.0))
            ).one()
            tops: Counter[str] = Counter()
            for (cats,) in conn.execute(select(UserProfile.top_categories)):
                tops.update((cats or [])[:1])
    finally:
        engine.dispose()
    lines = [
        f"users            {users:,}",
        f"events           {events:,}",
        f"purchases        {purchases:,}",
        f"revenue          {revenue:,.2f}",
    ]
    if elapsed:
        lines.append(f"events/s         {events / elapsed:,.0f} (first to last row written)")
    try:
        lines.append(f"dead letters     {dead_letter_count(settings):,}")
    except Exception as exc:  # the broker may be gone when a summary is asked for
        lines.append(f"dead letters     unknown ({exc.__class__.__name__})")
    top = ", ".join(f"{c} ({n:,} users)" for c, n in tops.most_common(5))
    lines.append(f"top categories   {top or '-'}")
    return "\n".join(lines)
