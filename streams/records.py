"""Typed records for messages Lifeline publishes (the input contract: online_models/contract)."""

from __future__ import annotations

import base64
import hashlib
from typing import Optional

import faust

# Dead letters stay far below the broker's default message limit (1 MB): at most this many
# bytes of the original payload, of its key, and characters of each text field are kept.
PAYLOAD_PREFIX_BYTES = 8192
KEY_MAX_BYTES = 1024
FIELD_MAX_CHARS = 1024
# Worst case of a serialized dead letter: every kept byte a control character (6 JSON
# characters each) in the payload, the key and three text fields, plus the fixed fields.
DEAD_LETTER_MAX_BYTES = 6 * (PAYLOAD_PREFIX_BYTES + KEY_MAX_BYTES + 3 * FIELD_MAX_CHARS) + 1024


class DeadLetter(faust.Record, serializer="json"):
    """A refused ``user-events`` message: a bounded copy of the bytes, why, and where from.

    ``value`` keeps at most :data:`PAYLOAD_PREFIX_BYTES` of the original bytes (UTF-8 text
    when they decode, else base64); ``value_length`` and ``value_sha256`` describe the whole
    message, so a dead letter stays far below the broker's message limit (JSON escapes a
    control byte as 6 characters: the worst case is under :data:`DEAD_LETTER_MAX_BYTES`)
    while the original can still be identified in the source topic.
    """

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: Optional[str]
    value: str
    value_encoding: str  # "utf-8" or "base64"
    value_length: int = 0  # bytes of the whole original message
    value_sha256: str = ""  # hex digest of the whole original message
    truncated: bool = False  # True when ``value`` holds only a prefix
    # A refused event of a collector batch: its position in the batch, and ``value`` holds
    # that event alone (as JSON); None when the whole message was refused.
    index: Optional[int] = None

    @classmethod
    def of(cls, *, reason: str, detail: str, topic: str, partition: int, offset: int,
           key: bytes | None, value: bytes | None, index: int | None = None) -> DeadLetter:
        """Build a dead letter with a bounded prefix, the length and SHA-256 of the bytes.

        >>> d = DeadLetter.of(reason="not_json", detail="", topic="t", partition=0, offset=7,
        ...                   key=b"k", value=b"\\x00" * 200_000)
        >>> d.value_length, d.truncated, len(d.dumps()) < DEAD_LETTER_MAX_BYTES
        (200000, True, True)
        >>> DeadLetter.of(reason="r", detail="", topic="t", partition=0, offset=0, key=None,
        ...               value=b"\\xff\\xfe").original()
        b'\\xff\\xfe'
        """
        raw = value or b""
        prefix = raw[:PAYLOAD_PREFIX_BYTES]
        try:
            raw.decode("utf-8")
            # A valid text cut inside a multi-byte character loses only that character.
            text, encoding = prefix.decode("utf-8", "ignore"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(prefix).decode(), "base64"
        return cls(
            reason=reason[:FIELD_MAX_CHARS],
            detail=detail[:FIELD_MAX_CHARS],
            topic=topic[:FIELD_MAX_CHARS],
            partition=partition,
            offset=offset,
            key=None if key is None else key[:KEY_MAX_BYTES].decode("utf-8", "replace"),
            value=text,
            value_encoding=encoding,
            value_length=len(raw),
            value_sha256=hashlib.sha256(raw).hexdigest(),
            truncated=len(raw) > PAYLOAD_PREFIX_BYTES,
            index=index,
        )

    def original(self) -> bytes:
        """The original message bytes (only a prefix of them when ``truncated``)."""
        if self.value_encoding == "base64":
            return base64.b64decode(self.value)
        return self.value.encode("utf-8")


def dead_letter_key(key: bytes | None) -> bytes | None:
    """The message key of a dead letter: the original key, or its digest when it is long.

    >>> dead_letter_key(b"u-42"), dead_letter_key(b"x" * 5000)[:7]
    (b'u-42', b'sha256:')
    """
    if key is None or len(key) <= KEY_MAX_BYTES:
        return key
    return b"sha256:" + hashlib.sha256(key).hexdigest().encode()
