"""Dead letters the ingest agent itself decides: a bad operator tick, a processing error.

(Every reason of the event contract is a unit test: tests/unit/test_contract_rejections.py.)
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, patch

import orjson
import pytest

from agents.track_user_profiles import track_user_profiles
from online_models.bundle import ModelBundle
from online_models.profile import UserState
from streams.runtime.model_follower import models
from streams.runtime.tables import profiles_for_user
from streams.topics import TICK_HEADER

pytestmark = pytest.mark.agent

ROOT = Path(__file__).resolve().parents[2]
# bad_signature: tests/agent/test_signed_messages.py (forged ticks with a signing key)
TESTED = {"bad_tick", "processing_error", "bad_signature"}


def event(**fields: object) -> bytes:
    base = {"event_id": "e1", "user_id": "dl-u1", "type": "purchase", "price": 5.0,
            "ts": "2026-01-01T00:00:00Z"}
    base.update(fields)
    return orjson.dumps(base)


def letters(send: AsyncMock) -> list[Any]:
    return [c.kwargs["value"] for c in send.call_args_list]


@pytest.mark.parametrize("tick", [b"not json", b"[1]", b'"now"', b'{"at": "soon"}',
                                  b'{"at": [1]}', b'{"at": {"t": 1}}'])
async def test_track_user_profiles__bad_tick_goes_to_dead_letters(
    tick: bytes, sink_put: AsyncMock, dead_letters_send: AsyncMock,
) -> None:
    async with track_user_profiles.test_context() as agent:
        await agent.put(tick, key=None, partition=1, headers={TICK_HEADER: b"1"})
        await agent.put(event(), key=b"dl-u1", partition=1)  # the partition goes on
    [letter] = letters(dead_letters_send)
    assert letter.reason == "bad_tick" and letter.detail
    assert letter.original() == tick and letter.partition == 1 and letter.offset >= 0
    assert dead_letters_send.call_args.kwargs["key"] is None
    assert UserState.from_bytes(profiles_for_user["dl-u1"]).events == 1
    # The bad tick is acked in turn, writing nothing.
    assert tuple(sink_put.call_args_list[0].args[0]) == ()


class FailingScorer:
    """A churn scorer that fails on its first call (a model bug, not bad input)."""

    def __init__(self) -> None:
        self.calls = 0

    def predict_proba_one(self, x: dict[str, Any]) -> float:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("scorer exploded")
        return 0.1

    def explain(self, x: dict[str, Any], top: int = 3) -> list[tuple[str, float]]:
        return []


async def test_track_user_profiles__processing_error_goes_to_dead_letters(
    sink_put: AsyncMock, dead_letters_send: AsyncMock,
) -> None:
    scorer = FailingScorer()

    class FailingBundle(ModelBundle):
        def churn_risk(self, x: dict[str, Any]) -> float:
            return scorer.predict_proba_one(x)

    bundle = FailingBundle()
    first = event(user_id="dl-u2", event_id="boom")
    with patch.object(models, "current", bundle):
        async with track_user_profiles.test_context() as agent:
            await agent.put(first, key=b"dl-u2", partition=0)
            await agent.put(event(user_id="dl-u3"), key=b"dl-u3", partition=0)
    [letter] = letters(dead_letters_send)
    assert letter.reason == "processing_error"
    assert letter.detail == "RuntimeError: scorer exploded"
    assert letter.original() == first and letter.partition == 0
    assert dead_letters_send.call_args.kwargs["key"] == b"dl-u2"
    # The failed event left no state behind; the next message was processed.
    assert profiles_for_user.get("dl-u2") is None
    assert UserState.from_bytes(profiles_for_user["dl-u3"]).events == 1


def agent_reasons() -> set[str]:
    """Literal reasons passed to a ``dead_letter`` call in agents/ and streams/."""
    found: set[str] = set()
    for path in [*ROOT.joinpath("agents").rglob("*.py"), *ROOT.joinpath("streams").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if "dead_letter" not in name.lower():
                continue
            args = [*node.args, *(k.value for k in node.keywords if k.arg == "reason")]
            found.update(a.value for a in args if isinstance(a, ast.Constant)
                         and isinstance(a.value, str) and re.fullmatch(r"[a-z_]+", a.value))
    return found


def test_track_user_profiles__every_agent_dead_letter_reason_is_tested() -> None:
    reasons = agent_reasons()
    assert reasons, "no dead_letter(..., 'reason', ...) call found: update agent_reasons()"
    assert reasons == TESTED, "add a test above for each new reason, then list it in TESTED"
