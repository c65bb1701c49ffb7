"""Lifeline's CLI commands beside Faust's own: ``python -m streams topics|migrate|replay|...``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click
import faust
from faust.cli import option

from streams.settings import settings
from streams.topics import USER_EVENTS

if TYPE_CHECKING:
    from faust import App


async def topics(self: faust.cli.AppCommand) -> None:
    """Create Lifeline's topics with their partition counts (idempotent)."""
    from streams.cli.admin import create_topics

    for name, result in create_topics(settings).items():
        self.say(f"{name}: {result}")


async def migrate(self: faust.cli.AppCommand) -> None:
    """Upgrade the database to the newest schema (alembic upgrade head)."""
    from streams.cli.admin import migrate as upgrade

    upgrade(settings.database_url)
    self.say("database at head")


async def replay(self: faust.cli.AppCommand, path: str, rate: float | None, topic: str | None,
                 quiet: bool, batch: int) -> None:
    """Publish a JSONL or CSV file of events to user-events (key = user id)."""
    from streams.cli.replay import replay as publish

    sent = await publish(path, bootstrap=settings.bootstrap,
                         topic=topic or settings.topic(USER_EVENTS.name), rate=rate,
                         progress=not quiet, security=settings.kafka, batch=batch)
    self.say(f"published {sent} events")


async def dataset(self: faust.cli.AppCommand, out: str, source: str, users: int, days: int,
                  seed: int) -> None:
    """Write CDNOW purchases (real) or a synthetic clickstream (labelled syn-) as JSONL."""
    from streams.data import datasets

    events: Any = (datasets.cdnow_events() if source == "cdnow"
                   else datasets.synthetic_events(users=users, days=days, seed=seed))
    self.say(f"wrote {datasets.write_jsonl(events, out)} {source} events to {out}")


async def summary(self: faust.cli.AppCommand) -> None:
    """Print users, events, revenue and top categories read back from the database."""
    from streams.cli.report import summary_text

    self.say(summary_text(settings))


async def rescore(self: faust.cli.AppCommand, at: str | None, due_only: bool) -> None:
    """Re-assess users on every partition now (after a model or policy change, or to read
    everyone's risk at one event time): one tick per partition of user-events."""
    from streams.cli.admin import publish_ticks

    when = None
    if at is not None:
        from online_models.contract import parse_ts

        when = parse_ts(at if not at.replace(".", "").isdigit() else float(at))
    n = publish_ticks(settings, at=when, everyone=not due_only)
    self.say(f"sent {n} ticks (at={when}, all={not due_only})")


async def report(self: faust.cli.AppCommand) -> None:
    """Segment sizes, last day's transitions, win-back uplift (treated vs control), model."""
    from streams.cli.report import report_text

    self.say(report_text(settings))

async def forget(self: faust.cli.AppCommand, user_ids: tuple[str, ...],
                 before: str | None, wait: float) -> None:
    """Erase users (right to erasure): their state, schedule, every database row; a receipt
    per user follows on erasure-receipts. Events up to now (or --before) never return."""
    import time

    from streams.cli.privacy import publish_erasures, receipt_offsets, wait_for_receipts

    if not user_ids:
        raise click.UsageError("name at least one USER_ID")
    at = time.time()
    if before is not None:
        from online_models.contract import parse_ts

        at = parse_ts(before if not before.replace(".", "").isdigit() else float(before))
    since = receipt_offsets(settings) if wait > 0 else {}
    requested = publish_erasures(settings, user_ids, at=at)
    for user_id, request_id in requested.items():
        self.say(f"erasure requested: {user_id} (request {request_id})")
    if wait > 0:
        done = wait_for_receipts(settings, set(requested.values()), timeout=wait, since=since)
        for user_id, request_id in requested.items():
            receipt = done.get(request_id)
            self.say(f"erased: {user_id} {receipt['removed']}" if receipt else
                     f"no receipt yet: {user_id} (request {request_id})")
        if len(done) < len(requested):
            raise SystemExit(1)


async def pseudonym(self: faust.cli.AppCommand, user_ids: tuple[str, ...]) -> None:
    """Print the pseudonym each user id has under LIFELINE_PSEUDONYM_KEY."""
    from streams.cli.privacy import pseudonyms_of

    try:
        mapping = pseudonyms_of(settings, user_ids)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    for user_id, alias in mapping.items():
        self.say(f"{user_id}\t{alias}")


def register(app: App) -> None:
    """Add Lifeline's commands to the app's CLI (called once by streams/app.py).

    The commands import no app: the app imports them, never the other way round.
    """
    app.command()(topics)
    app.command()(migrate)
    app.command(
        faust.cli.argument("path"),
        option("--rate", type=float, default=None, help="Events per second (default: unlimited)."),
        option("--topic", type=str, default=None, help="Target topic (default: user-events)."),
        option("--quiet", is_flag=True, default=False, help="No progress bar."),
        option("--batch", type=click.IntRange(min=1), default=1,
               help="Up to N consecutive events of a user per message, as a JSON array "
                    "(a collector batch; default 1: one event per message)."),
    )(replay)
    app.command(
        option("--out", type=str, required=True, help="Where to write the JSONL file."),
        option("--source", type=click.Choice(["cdnow", "synthetic"]), default="cdnow"),
        option("--users", type=int, default=2000, help="Synthetic users."),
        option("--days", type=int, default=120, help="Synthetic days."),
        option("--seed", type=int, default=7, help="Synthetic seed."),
    )(dataset)
    app.command()(summary)
    app.command(
        option("--at", type=str, default=None,
               help="Event time to move every partition's watermark to (ISO-8601 or epoch s)."),
        option("--due-only", is_flag=True, default=False,
               help="Only users due by then (default: every user)."),
    )(rescore)
    app.command()(report)
    app.command(
        faust.cli.argument("user_ids", nargs=-1),
        option("--before", type=str, default=None,
               help="Erase events up to this event time (ISO-8601 or epoch s; default: now)."),
        option("--wait", type=float, default=0.0,
               help="Seconds to wait for the receipts (exit 1 if one is missing; 0: no wait)."),
    )(forget)
    app.command(faust.cli.argument("user_ids", nargs=-1))(pseudonym)
