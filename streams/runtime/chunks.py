"""Split outgoing batches so that no message Lifeline produces can exceed the broker limit."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from typing import Any

import orjson

log = logging.getLogger(__name__)

# Kafka's default max.message.bytes / max.request.size is 1 MiB; stay well below it.
MESSAGE_MAX_BYTES = 512 * 1024


def chunks_by_bytes(items: Sequence[Any], *, max_bytes: int = MESSAGE_MAX_BYTES,
                    max_items: int = 500, overhead: int = 64) -> Iterator[list[Any]]:
    """Consecutive runs of ``items`` whose JSON list encodings stay within ``max_bytes``.

    Order is kept. Each chunk also holds at most ``max_items`` items; ``overhead`` is reserved
    for the envelope the chunk is sent in. An item that alone exceeds the bound cannot be
    sent at all: it is dropped with a warning (the broker would refuse it and block the flush).

    >>> [len(c) for c in chunks_by_bytes(["x" * 10] * 7, max_bytes=100, max_items=5,
    ...                                  overhead=0)]
    [5, 2]
    >>> [len(c) for c in chunks_by_bytes(["x" * 40] * 3, max_bytes=100, overhead=0)]
    [2, 1]
    >>> list(chunks_by_bytes(["x" * 500, "y"], max_bytes=100))
    [['y']]
    """
    if max_bytes <= overhead or max_items < 1:
        raise ValueError("need max_bytes > overhead and max_items >= 1")
    budget = max_bytes - overhead
    chunk: list[Any] = []
    size = 2  # "[" and "]"
    for item in items:
        n = len(orjson.dumps(item)) + 1  # the separating comma
        if n + 2 > budget:
            log.warning("dropping an outgoing item of %d bytes (limit %d)", n, budget)
            continue
        if chunk and (size + n > budget or len(chunk) >= max_items):
            yield chunk
            chunk, size = [], 2
        chunk.append(item)
        size += n
    if chunk:
        yield chunk
