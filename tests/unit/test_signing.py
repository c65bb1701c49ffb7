"""Unit tests for `online_models.signing`: HMAC-SHA256 envelopes and header signatures."""

from __future__ import annotations

import pytest

from online_models.signing import PREFIX, Refusal, check, mac, sign, unwrap, verify, wrap

pytestmark = pytest.mark.unit

KEY = b"0123456789abcdef0123456789abcdef"


def test_signing__every_flipped_byte_is_refused() -> None:
    envelope = sign(KEY, b'{"version": 3}', purpose="models")
    assert verify(KEY, envelope, purpose="models") == b'{"version": 3}'
    for i in range(len(envelope)):
        forged = bytearray(envelope)
        forged[i] ^= 0x01
        assert isinstance(verify(KEY, bytes(forged), purpose="models"), Refusal)


def test_signing__truncated_or_extended_envelopes_are_refused() -> None:
    envelope = sign(KEY, b"payload", purpose="training")
    for forged in (envelope[:-1], envelope + b"x", envelope[: len(PREFIX) + 10], PREFIX):
        assert verify(KEY, forged, purpose="training") == Refusal("bad_signature")
    assert verify(KEY, b"", purpose="training") == Refusal("unsigned")


def test_signing__purpose_and_key_are_bound() -> None:
    envelope = sign(KEY, b"payload", purpose="training")
    assert verify(KEY, envelope, purpose="models") == Refusal("bad_signature")
    assert verify(b"x" * 32, envelope, purpose="training") == Refusal("bad_signature")
    signature = mac(KEY, b"1700000000", purpose="tick")
    assert check(KEY, b"1700000000", signature.encode(), purpose="tick") is None
    assert check(KEY, b"1700000001", signature, purpose="tick") == Refusal("bad_signature")
    assert check(KEY, b"1700000000", b"\xff" * 64, purpose="tick") == Refusal("bad_signature")
    assert check(KEY, b"1700000000", "", purpose="tick") == Refusal("unsigned")


def test_signing__short_key_or_bad_purpose_raise() -> None:
    with pytest.raises(ValueError):
        sign(b"short", b"x", purpose="models")
    with pytest.raises(ValueError):
        mac(KEY, b"x", purpose="")
    with pytest.raises(ValueError):
        mac(KEY, b"x", purpose="a\nb")


def test_signing__without_a_key_messages_pass_as_they_are() -> None:
    assert wrap(None, b"data", purpose="models") == b"data"
    assert unwrap(None, b"data", purpose="models") == b"data"
    assert unwrap(None, wrap(KEY, b"data", purpose="models"), purpose="models") == b"data"
    assert unwrap(KEY, wrap(KEY, b"data", purpose="models"), purpose="models") == b"data"
    assert unwrap(KEY, b"data", purpose="models") == Refusal("unsigned")
