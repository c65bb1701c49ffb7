"""Keyed pseudonyms of user ids (``LIFELINE_PSEUDONYM_KEY``), applied once, at ingest.

With a key set, the worker replaces each event's user id by ``p-`` + the first 128 bits of
HMAC-SHA256(key, user id) right after validation, so every table key, database row, output
message and training example downstream holds the pseudonym only. The same id always maps to
the same pseudonym under one key (profiles, segments and alerts work unchanged); without the
key a pseudonym cannot be computed from an id or reversed. ``python -m streams pseudonym ID``
shows an operator the pseudonym of an id. Trade-offs: README.md and SECURITY.md.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace

from online_models.contract import Event

PREFIX = "p-"


def pseudonym(key: bytes, user_id: str) -> str:
    """The pseudonym of ``user_id`` under ``key`` (34 characters).

    >>> pseudonym(b"k1", "u-42")
    'p-f2d9a4516ec36b6cb22324c6e2c4c5f1'
    >>> pseudonym(b"k1", "u-42") == pseudonym(b"k1", "u-42") != pseudonym(b"k2", "u-42")
    True
    """
    if not key:
        raise ValueError("a pseudonym needs a non-empty key")
    digest = hmac.new(key, user_id.encode("utf-8"), hashlib.sha256).digest()
    return PREFIX + digest[:16].hex()


def pseudonymise(key: bytes | None, event: Event) -> Event:
    """``event`` with its user id replaced by its pseudonym (unchanged without a key).

    >>> pseudonymise(b"k1", Event("e1", "u-42", "view", 0.0)).user_id
    'p-f2d9a4516ec36b6cb22324c6e2c4c5f1'
    >>> pseudonymise(None, Event("e1", "u-42", "view", 0.0)).user_id
    'u-42'
    """
    if key is None:
        return event
    return replace(event, user_id=pseudonym(key, event.user_id))
