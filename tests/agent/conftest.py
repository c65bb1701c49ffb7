"""One AsyncMock per outbound topic or database call of the agents under test."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import AsyncMock, patch

import pytest

from streams.app import app
from streams.runtime.worker_state import WorkerState


@pytest.fixture(autouse=True)
def _memory_app() -> Iterator[None]:
    from streams.runtime.model_follower import models

    app.finalize()
    app.flow_control.resume()
    models.synced.set()  # no model topic here: score with the blank bundle
    yield


@pytest.fixture(autouse=True)
def worker() -> Iterator[WorkerState]:
    """A fresh worker state, an empty profile table and no hot states per test: nothing leaks
    between tests."""
    import agents.track_user_profiles as module
    from streams.runtime.tables import hot_profiles, profiles_for_user
    from streams.settings import settings

    fresh = WorkerState(max_future_skew_s=settings.max_future_skew_s)
    profiles_for_user.data.clear()
    hot_profiles.clear()
    with patch.object(module, "worker", fresh):
        yield fresh
    profiles_for_user.data.clear()
    hot_profiles.clear()


@pytest.fixture()
def sink_put() -> Iterator[AsyncMock]:
    """Rows the agent hands the database sink; acks run at once (as after a good flush)."""

    async def put(rows, ack, states=None, outbox=()):  # type: ignore[no-untyped-def]
        if ack is not None:
            ack()

    with patch("streams.runtime.outputs.sink.put", new=AsyncMock(side_effect=put)) as mock:
        yield mock


@pytest.fixture()
def dead_letters_send() -> Iterator[AsyncMock]:
    with patch("streams.runtime.channels.dead_letters_topic.send", new=AsyncMock()) as mock:
        yield mock


@pytest.fixture()
def user_events_send() -> Iterator[AsyncMock]:
    with patch("streams.runtime.channels.user_events_topic.send", new=AsyncMock()) as mock:
        yield mock


@pytest.fixture(autouse=True)
def outputs() -> Iterator[dict[str, AsyncMock]]:
    """One AsyncMock per output topic: training examples, segment changes, alerts, outcomes."""
    names = ["training_topic", "segment_changes_topic", "churn_alerts_topic",
             "winback_outcomes_topic", "models_topic"]
    patches = [patch(f"streams.runtime.channels.{name}.send", new=AsyncMock()) for name in names]
    mocks = [p.start() for p in patches]
    yield dict(zip([n.removesuffix("_topic") for n in names], mocks, strict=True))
    for p in patches:
        p.stop()
