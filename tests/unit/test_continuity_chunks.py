"""The gap reader: bounded chunks, in order, resuming after a broker failure."""

from __future__ import annotations

from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

import pytest

import streams.runtime.continuity as continuity

pytestmark = pytest.mark.unit


async def test_read_chunks__resumes_after_a_failure_at_the_first_offset_not_yielded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    passes: list[int] = []

    async def read_once(bootstrap: str, topic: str, partition: int, start: int, end: int,
                        chunk: int, timeout: float, security: Any
                        ) -> AsyncIterator[tuple[list[Any], int]]:
        passes.append(start)
        for lo in range(start, end, chunk):
            hi = min(lo + chunk, end)
            if len(passes) == 1 and lo >= start + 2 * chunk:
                raise TimeoutError("broker busy")  # the first pass dies after two chunks
            yield [SimpleNamespace(offset=o) for o in range(lo, hi)], hi

    monkeypatch.setattr(continuity, "_read_once", read_once)
    monkeypatch.setattr(continuity.asyncio, "sleep", _no_sleep)
    chunks = [[m.offset for m in c] async for c in continuity.read_chunks(
        "b", "t", 0, 10, 45, chunk=10)]
    assert passes == [10, 30]
    assert chunks == [list(range(10, 20)), list(range(20, 30)), list(range(30, 40)),
                      list(range(40, 45))]


async def test_read_chunks__gives_up_after_its_attempts(monkeypatch: pytest.MonkeyPatch) -> None:
    async def read_once(*args: Any) -> AsyncIterator[tuple[list[Any], int]]:
        raise TimeoutError("down")
        yield [], 0  # pragma: no cover  (makes this an async generator)

    monkeypatch.setattr(continuity, "_read_once", read_once)
    monkeypatch.setattr(continuity.asyncio, "sleep", _no_sleep)
    with pytest.raises(TimeoutError):
        await continuity.read_range("b", "t", 0, 0, 5)


async def _no_sleep(seconds: float) -> None:
    return None
