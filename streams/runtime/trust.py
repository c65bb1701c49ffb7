"""Signed internal messages on the worker: what it sends and accepts on ``lifeline-models``,
``lifeline-training`` and operator ticks (the primitive is online_models/signing.py).

With ``LIFELINE_SIGNING_KEY`` (or ``_FILE``) set, every internal message is signed and an
unsigned or badly signed one is refused: counted in :data:`refused`, logged with its origin,
never applied. Without a key, messages are sent unsigned and accepted as they come (anyone
who can produce to those topics can feed the trainer, replace the models or tick every
partition; snapshots are data either way, never code).
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from online_models.signing import Refusal, check, unwrap, wrap
from streams.settings import settings
from streams.topics import TICK_SIGNATURE_HEADER

log = logging.getLogger(__name__)

refused: Counter[str] = Counter()  # purpose ("models", "training", "tick") -> refusals


def seal(payload: bytes, *, purpose: str) -> bytes:
    """``payload`` as sent: signed when a key is set."""
    return wrap(settings.signing_key, payload, purpose=purpose)


def opened(data: bytes, *, purpose: str, origin: str) -> bytes | None:
    """The payload of a received message, or None (counted and logged) if it is refused."""
    result = unwrap(settings.signing_key, data, purpose=purpose)
    if isinstance(result, Refusal):
        refused[purpose] += 1
        log.warning("refused a %s message from %s: %s (%d %s refusals so far)", purpose,
                    origin, result.reason, refused[purpose], purpose)
        return None
    return result


def header(headers: Any, name: str) -> bytes | None:
    """The value of header ``name`` in Faust's or aiokafka's headers (mapping or pairs)."""
    if not headers:
        return None
    items = headers.items() if isinstance(headers, dict) else headers
    for key, value in items:
        if key == name:
            return value if isinstance(value, bytes) else None
    return None


def tick_refusal(value: bytes, headers: Any) -> Refusal | None:
    """Why an operator tick must not be applied (None: apply it; always None without key)."""
    key = settings.signing_key
    if key is None:
        return None
    refusal = check(key, value, header(headers, TICK_SIGNATURE_HEADER), purpose="tick")
    if refusal is not None:
        refused["tick"] += 1
    return refusal
