"""One AsyncMock per outbound topic or database call of the agents under test."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import AsyncMock, patch

import pytest

from streams.app import app


@pytest.fixture(autouse=True)
def _memory_app() -> Iterator[None]:
    app.finalize()
    app.flow_control.resume()
    yield


@pytest.fixture()
def sink_put() -> Iterator[AsyncMock]:
    """Rows the agent hands the database sink; acks run at once (as after a good flush)."""

    async def put(rows, ack):  # type: ignore[no-untyped-def]
        if ack is not None:
            ack()

    with patch("streams.sinks.sink.put", new=AsyncMock(side_effect=put)) as mock:
        yield mock


@pytest.fixture()
def dead_letters_send() -> Iterator[AsyncMock]:
    with patch("streams.topics.dead_letters_topic.send", new=AsyncMock()) as mock:
        yield mock


@pytest.fixture()
def user_events_send() -> Iterator[AsyncMock]:
    with patch("streams.topics.user_events_topic.send", new=AsyncMock()) as mock:
        yield mock
