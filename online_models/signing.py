"""HMAC-SHA256 authentication of Lifeline's internal messages (snapshots, training batches,
operator ticks), under a key only Lifeline's own processes hold.

A signed message is an envelope: :data:`PREFIX`, the hex MAC, a newline, then the payload.
The MAC covers a *purpose* too (``"models"``, ``"training"``, ``"tick"``), so a message
signed for one topic is refused on another. Verifying returns the payload or a
:class:`Refusal` with a machine-readable reason (``unsigned`` / ``bad_signature``); callers
count, log and drop refusals, never apply them. Pure: no Faust, no I/O; the key comes from
the settings (``LIFELINE_SIGNING_KEY`` or ``LIFELINE_SIGNING_KEY_FILE``).

What it does not do: encrypt (payloads stay readable), or stop the replay of a message that
was once validly signed (snapshot versions only ever increase on a worker; ticks are capped
by the worker's clock checks).
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

PREFIX = b"lifeline-hmac-sha256:v1:"
MIN_KEY_BYTES = 16
_MAC_HEX = 64


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a message was not accepted: ``unsigned`` or ``bad_signature``."""

    reason: str


def _check_key(key: bytes) -> None:
    if not isinstance(key, bytes) or len(key) < MIN_KEY_BYTES:
        raise ValueError(f"a signing key must be at least {MIN_KEY_BYTES} bytes")


def mac(key: bytes, payload: bytes, *, purpose: str) -> str:
    """The hex HMAC-SHA256 of ``payload`` for ``purpose`` (e.g. a tick's header value).

    >>> key = b"k" * 16
    >>> len(mac(key, b"1700000000", purpose="tick"))
    64
    >>> mac(key, b"x", purpose="tick") == mac(key, b"x", purpose="models")
    False
    """
    _check_key(key)
    if not purpose or "\n" in purpose:
        raise ValueError("purpose must be a non-empty single line")
    message = purpose.encode("utf-8") + b"\n" + payload
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def check(key: bytes, payload: bytes, signature: str | bytes | None, *,
          purpose: str) -> Refusal | None:
    """``None`` if ``signature`` is the MAC of ``payload`` for ``purpose``, else a refusal.

    >>> key = b"k" * 16
    >>> check(key, b"1", mac(key, b"1", purpose="tick"), purpose="tick") is None
    True
    >>> check(key, b"2", mac(key, b"1", purpose="tick"), purpose="tick")
    Refusal(reason='bad_signature')
    >>> check(key, b"1", None, purpose="tick")
    Refusal(reason='unsigned')
    """
    if signature is None or signature in (b"", ""):
        return Refusal("unsigned")
    if isinstance(signature, bytes):
        try:
            signature = signature.decode("ascii")
        except UnicodeDecodeError:
            return Refusal("bad_signature")
    if hmac.compare_digest(signature, mac(key, payload, purpose=purpose)):
        return None
    return Refusal("bad_signature")


def sign(key: bytes, payload: bytes, *, purpose: str) -> bytes:
    """The envelope of ``payload``: prefix, MAC for ``purpose``, newline, payload.

    >>> envelope = sign(b"k" * 16, b'{"a":1}', purpose="models")
    >>> envelope.startswith(PREFIX), envelope.endswith(b'\\n{"a":1}')
    (True, True)
    """
    return PREFIX + mac(key, payload, purpose=purpose).encode("ascii") + b"\n" + payload


def verify(key: bytes, data: bytes, *, purpose: str) -> bytes | Refusal:
    """The payload of a :func:`sign` envelope, or why it is refused.

    >>> key = b"k" * 16
    >>> verify(key, sign(key, b"data", purpose="models"), purpose="models")
    b'data'
    >>> verify(key, sign(key, b"data", purpose="training"), purpose="models")
    Refusal(reason='bad_signature')
    >>> verify(key, b"data", purpose="models")
    Refusal(reason='unsigned')
    >>> verify(b"another key 1234", sign(key, b"data", purpose="models"), purpose="models")
    Refusal(reason='bad_signature')
    """
    _check_key(key)
    if not data.startswith(PREFIX):
        return Refusal("unsigned")
    start = len(PREFIX)
    signature, newline = data[start:start + _MAC_HEX], data[start + _MAC_HEX:start + _MAC_HEX + 1]
    if newline != b"\n":
        return Refusal("bad_signature")
    payload = data[start + _MAC_HEX + 1:]
    refusal = check(key, payload, signature, purpose=purpose)
    return payload if refusal is None else refusal


def unwrap(key: bytes | None, data: bytes, *, purpose: str) -> bytes | Refusal:
    """What a consumer applies: with a key, :func:`verify`; without one, the payload of an
    envelope (a signing trainer, a worker without the key) or the bytes as they are.

    >>> unwrap(None, b"plain", purpose="models")
    b'plain'
    >>> unwrap(None, sign(b"k" * 16, b"data", purpose="models"), purpose="models")
    b'data'
    >>> unwrap(b"k" * 16, b"plain", purpose="models")
    Refusal(reason='unsigned')
    """
    if key is not None:
        return verify(key, data, purpose=purpose)
    if data.startswith(PREFIX) and data[len(PREFIX) + _MAC_HEX:len(PREFIX) + _MAC_HEX + 1] == b"\n":
        return data[len(PREFIX) + _MAC_HEX + 1:]
    return data


def wrap(key: bytes | None, payload: bytes, *, purpose: str) -> bytes:
    """What a producer sends: signed with a key, the payload as it is without one.

    >>> wrap(None, b"data", purpose="models")
    b'data'
    >>> wrap(b"k" * 16, b"data", purpose="models").startswith(PREFIX)
    True
    """
    return payload if key is None else sign(key, payload, purpose=purpose)
