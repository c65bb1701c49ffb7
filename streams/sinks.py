"""The worker's database sink and the row shapes it writes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from online_models.profile import UserState, decayed_affinity
from streams.app import app
from streams.db import UserProfile, make_engine
from streams.settings import settings
from streams.sink import Row, Sink, Upsert

PROFILES = Upsert(UserProfile.__table__, ("user_id",), guard="events")  # type: ignore[arg-type]

sink = Sink(
    lambda: make_engine(settings.database_url),
    batch=settings.sink_batch,
    interval=settings.sink_interval,
    max_pending=settings.sink_max_pending,
)


def when(ts: float | None) -> datetime | None:
    """Epoch seconds as an aware UTC datetime."""
    return None if ts is None else datetime.fromtimestamp(ts, tz=UTC)


def profile_row(user_id: str, state: UserState) -> Row:
    """The ``user_profiles`` row of a user's current state."""
    at = state.last_seen or 0.0
    affinity = decayed_affinity(state, at, settings.profile)
    top = sorted(affinity, key=affinity.__getitem__, reverse=True)[:3]
    segments: dict[str, Any] = state.segments
    return {
        "user_id": user_id,
        "first_seen": when(state.first_seen),
        "last_seen": when(state.last_seen),
        "events": state.events,
        "purchases": state.purchases,
        "revenue": state.revenue,
        "sessions": state.sessions,
        "cart_adds": state.cart_adds,
        "cart_abandons": state.cart_abandons,
        "last_purchase": when(state.last_purchase),
        "top_categories": top,
        "churn_risk": state.churn_risk,
        "lifecycle": segments.get("lifecycle"),
        "value_segment": segments.get("value"),
        "interest_segment": segments.get("interest"),
        "source_offset": state.offset,
    }


@app.task
async def flush_sink_forever() -> None:
    """Background flusher of the database sink."""
    await sink.run()
