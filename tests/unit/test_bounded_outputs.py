"""No message Lifeline produces can exceed the broker limit: dead letters and training."""

from __future__ import annotations

import hashlib
import random

import orjson
import pytest

from streams.records import DEAD_LETTER_MAX_BYTES, DeadLetter, dead_letter_key
from streams.runtime.chunks import MESSAGE_MAX_BYTES, chunks_by_bytes

pytestmark = pytest.mark.unit


def letter(value: bytes, key: bytes | None = b"k") -> DeadLetter:
    return DeadLetter.of(reason="not_json", detail="x", topic="user-events", partition=1,
                         offset=9, key=key, value=value)


def test_dead_letter__200kb_of_control_bytes_is_bounded_with_length_and_sha256() -> None:
    raw = bytes(random.Random(1).choice(range(32)) for _ in range(200_000))
    d = letter(raw)
    size = len(d.dumps())
    assert size < 100_000 and size < DEAD_LETTER_MAX_BYTES
    assert d.value_length == 200_000 and d.truncated
    assert d.value_sha256 == hashlib.sha256(raw).hexdigest()
    assert raw.startswith(d.original())


def test_dead_letter__worst_case_key_detail_and_binary_payload_stay_under_the_bound() -> None:
    raw = b"\xff" + bytes(range(256)) * 4000  # not UTF-8: base64
    d = DeadLetter.of(reason="\x01" * 5000, detail="\x02" * 50_000, topic="t" * 5000,
                      partition=0, offset=0, key=b"\x00" * 500_000, value=raw)
    assert d.value_encoding == "base64" and d.truncated
    assert len(d.dumps()) < DEAD_LETTER_MAX_BYTES
    assert d.value_sha256 == hashlib.sha256(raw).hexdigest()
    assert dead_letter_key(b"\x00" * 500_000) == (
        b"sha256:" + hashlib.sha256(b"\x00" * 500_000).hexdigest().encode())


def test_dead_letter__small_messages_are_kept_exactly() -> None:
    for raw in (b"{not json", "caf\u00e9 \u2603".encode(), b"\xc3\x28", b""):
        d = letter(raw)
        assert d.original() == raw and not d.truncated and d.value_length == len(raw)


def test_dead_letter__utf8_cut_inside_a_character_stays_text() -> None:
    raw = "\u2603".encode() * 10_000  # 3 bytes each: 8192 is not a boundary
    d = letter(raw)
    assert d.value_encoding == "utf-8" and d.truncated
    assert raw.startswith(d.original()) and len(d.original()) == 8190


def test_chunks_by_bytes__training_examples_with_long_reviews_are_split_by_size() -> None:
    examples = [{"k": "review", "text": "w" * 9_000, "rating": 5} for _ in range(500)]
    chunks = list(chunks_by_bytes(examples))
    assert [e for c in chunks for e in c] == examples  # nothing lost, order kept
    assert len(chunks) > 1
    assert all(len(orjson.dumps({"examples": c})) < MESSAGE_MAX_BYTES for c in chunks)


def test_chunks_by_bytes__count_bound_and_misuse() -> None:
    assert [len(c) for c in chunks_by_bytes([{"k": "rfm"}] * 1001)] == [500, 500, 1]
    with pytest.raises(ValueError):
        list(chunks_by_bytes([1], max_bytes=10, overhead=10))
