"""Read-backs for operators: ``python -m streams summary`` and ``python -m streams report``."""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, text

from streams.runtime.offsets import log_ends_sync
from streams.settings import Settings
from streams.storage.schema import SegmentTransition, UserProfile, make_engine
from streams.topics import DEAD_LETTERS


def dead_letter_count(settings: Settings) -> int:
    """Messages in the dead-letter topic (sum of its partitions' log ends)."""
    from kafka import KafkaConsumer, TopicPartition

    topic = settings.topic(DEAD_LETTERS.name)
    consumer = KafkaConsumer(bootstrap_servers=settings.bootstrap, client_id="lifeline-report",
                             **settings.kafka.client_options())
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        ends = log_ends_sync(consumer, [TopicPartition(topic, p) for p in parts])
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


def _json(value: Any) -> Any:
    """A JSON column's value (SQLite may hand back the text)."""
    return json.loads(value) if isinstance(value, str) else value


def candidate_lines(serving: str | None, candidates: Any, priors: Any) -> list[str]:
    """Which churn candidate serves, every candidate's window metrics, the BG/NBD fit."""
    if not serving or not isinstance(candidates, dict):
        return []
    lines = [f"churn risk served by: {serving} (window of the newest resolved labels)"]
    for name, m in candidates.items():
        mark = "*" if name == serving else " "
        lines.append(f"  {mark} {name:<15} window ROC AUC {m.get('auc')}, log loss "
                     f"{m.get('logloss')}, labels {m.get('labels')}")
    if isinstance(priors, dict):
        lines.append(f"BG/NBD priors ({priors.get('source')}, {priors.get('buyers')} buyers, "
                     f"log-likelihood {priors.get('loglik')}): r {priors.get('r')}, alpha "
                     f"{priors.get('alpha')}, a {priors.get('a')}, b {priors.get('b')}")
    return lines


def report_text(settings: Settings) -> str:
    """Segment sizes, the last day of transitions, alerts and win-back uplift, model quality."""
    from online_models.alerts import uplift

    engine = make_engine(settings.database_url)
    try:
        with engine.connect() as conn:
            sizes = conn.execute(text(
                "SELECT dimension, segment, count(*) FROM segment_memberships "
                "GROUP BY dimension, segment ORDER BY dimension, count(*) DESC")).all()
            # Typed columns: SQLite hands back timestamps as text otherwise.
            moved = SegmentTransition
            last = conn.execute(select(func.max(moved.at))).scalar()
            count = func.count().label("n")
            moves = [] if last is None else conn.execute(
                select(moved.dimension, moved.from_segment, moved.to_segment, count)
                .where(moved.at > last - timedelta(days=1))
                .group_by(moved.dimension, moved.from_segment, moved.to_segment)
                .order_by(moved.dimension, count.desc())).tuples().all()
            alerts: dict[bool, int] = dict(conn.execute(text(
                "SELECT control, count(*) FROM churn_alerts GROUP BY control")).tuples().all())
            returned: dict[bool, int] = dict(conn.execute(text(
                "SELECT control, count(*) FROM winback_outcomes GROUP BY control")).tuples().all())
            model = conn.execute(text(
                "SELECT version, examples, roc_auc, log_loss, drifts, serving, candidates, "
                "priors FROM model_versions ORDER BY version DESC LIMIT 1")).first()
    finally:
        engine.dispose()
    lines = ["segments (current members)"]
    lines += [f"  {dim:<10} {seg or '-':<28} {n:>9,}" for dim, seg, n in sizes] or ["  -"]
    lines.append(f"transitions in the last day of event time (to {last})")
    lines += [f"  {dim:<10} {a or '-':>16} -> {b or '-':<16} {n:>9,}" for dim, a, b, n in moves]
    lift = uplift(returned.get(False, 0), alerts.get(False, 0),
                  returned.get(True, 0), alerts.get(True, 0))
    lines.append(f"win-back: treated {lift['treated_total']:,} alerts, return rate "
                 f"{lift['treated_rate']}; control {lift['control_total']:,}, return rate "
                 f"{lift['control_rate']}; uplift {lift['uplift']} "
                 f"(95% CI {lift['ci_low']} .. {lift['ci_high']})")
    if model is not None:
        lines.append(f"churn model v{model[0]}: {model[1]:,} labelled examples, progressive "
                     f"ROC AUC {model[2]}, log loss {model[3]}, drifts {model[4]}")
        lines += candidate_lines(model[5], _json(model[6]), _json(model[7]))
    return "\n".join(lines)
