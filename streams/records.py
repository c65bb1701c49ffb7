"""Typed records for messages Lifeline publishes (the input contract: online_models/contract)."""

from __future__ import annotations

import base64
from typing import Optional

import faust


class DeadLetter(faust.Record, serializer="json"):
    """A refused ``user-events`` message: the original bytes, why, and where it came from."""

    reason: str
    detail: str
    topic: str
    partition: int
    offset: int
    key: Optional[str]
    value: str
    value_encoding: str  # "utf-8" or "base64"

    @classmethod
    def of(cls, *, reason: str, detail: str, topic: str, partition: int, offset: int,
           key: bytes | None, value: bytes | None) -> DeadLetter:
        """Build a dead letter keeping the original bytes exactly (base64 if not UTF-8)."""
        raw = value or b""
        try:
            text, encoding = raw.decode("utf-8"), "utf-8"
        except UnicodeDecodeError:
            text, encoding = base64.b64encode(raw).decode(), "base64"
        return cls(
            reason=reason,
            detail=detail,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key.decode("utf-8", "replace") if key is not None else None,
            value=text,
            value_encoding=encoding,
        )

    def original(self) -> bytes:
        """The original message bytes."""
        if self.value_encoding == "base64":
            return base64.b64decode(self.value)
        return self.value.encode("utf-8")
