"""Event ids a user applied within a time window, packed into bytes for the user's state.

An event is a duplicate when its ``event_id`` was applied for the same user while the user's
event-time clock (the latest event time applied) was at most the window before the clock
now, however many events came in between. The ids live in the user's state, so they travel
through its changelog (crash, restart and rebalance keep them).

Packing (``bytes``): a 4-byte header, the minute (epoch minutes, little-endian ``uint32``)
the stamps count from; then one 10-byte entry per remembered id, oldest first: the first 8
bytes of the id's BLAKE2b digest and the minute the id was applied, as ``uint16`` minutes
after the header's. Stamps never decrease (they are the user's clock), so the ids the window
forgot are always a prefix, cut on every :func:`remember`.

Exactness: two distinct ids collide with probability 2**-64 per pair. With ``n`` ids
remembered, a new distinct id is taken for a duplicate with probability at most
``n / 2**64`` (5.4e-16 at 10,000 ids); the birthday bound for a full set of ``n`` ids is
``n * (n - 1) / 2**65`` (2.7e-12 at 10,000). Time is kept to the minute: an id is
remembered while ``clock_minute - stamp_minute <= window_minutes`` (epoch minutes, rounded
down), so a copy within the window is always dropped, and one more than a minute past it is
always counted.

Memory: 10 bytes per id (13.3 as base64 in the JSON state), plus 4.
"""

from __future__ import annotations

import struct
from hashlib import blake2b

HEADER = struct.Struct("<I")
STAMP = struct.Struct("<H")
HASH_BYTES = 8
ENTRY_BYTES = HASH_BYTES + STAMP.size
MAX_WINDOW_MINUTES = 30 * 24 * 60  # stamps stay far inside uint16 after a rebase
_u32, _u16, _ZERO = HEADER.unpack_from, STAMP.unpack_from, STAMP.pack(0)


def id_key(event_id: str) -> bytes:
    """The 8-byte (64-bit) BLAKE2b digest an id is remembered by.

    >>> id_key("e-1").hex(), len(id_key("x" * 256))
    ('317386494bf10d9f', 8)
    """
    return blake2b(event_id.encode("utf-8", "surrogatepass"), digest_size=HASH_BYTES).digest()


def minute(ts: float) -> int:
    """Epoch seconds as whole epoch minutes (rounded down), the unit of stamps.

    >>> minute(119.9), minute(120.0)
    (1, 2)
    """
    return int(ts // 60)


def count(packed: bytes) -> int:
    """How many ids ``packed`` remembers.

    >>> packed, _ = remember(b"", id_key("e-1"), 10, window_minutes=60, cap=5)
    >>> count(packed), count(b"")
    (1, 0)
    """
    return (len(packed) - HEADER.size) // ENTRY_BYTES if packed else 0


def stamps(packed: bytes) -> list[int]:
    """The minute each remembered id was applied at, oldest first.

    >>> packed, _ = remember(b"", id_key("e-1"), 10, window_minutes=60, cap=5)
    >>> packed, _ = remember(packed, id_key("e-2"), 12, window_minutes=60, cap=5)
    >>> stamps(packed)
    [10, 12]
    """
    if not packed:
        return []
    base = HEADER.unpack_from(packed)[0]
    return [base + STAMP.unpack_from(packed, HEADER.size + i * ENTRY_BYTES + HASH_BYTES)[0]
            for i in range(count(packed))]


def _find(packed: bytes, key: bytes) -> int:
    """Index of the entry whose hash is ``key``, or -1 (matches across entries are skipped)."""
    pos = packed.find(key, HEADER.size)
    while pos != -1:
        index, rest = divmod(pos - HEADER.size, ENTRY_BYTES)
        if rest == 0:
            return index
        pos = packed.find(key, pos + 1)
    return -1


def _stamp(packed: bytes, index: int) -> int:
    offset = STAMP.unpack_from(packed, HEADER.size + index * ENTRY_BYTES + HASH_BYTES)[0]
    return int(HEADER.unpack_from(packed)[0] + offset)


def is_duplicate(packed: bytes, key: bytes, clock: int, *, window_minutes: int) -> bool:
    """True when ``key`` was remembered at most ``window_minutes`` before minute ``clock``.

    >>> packed, _ = remember(b"", id_key("e-1"), 100, window_minutes=60, cap=5)
    >>> [is_duplicate(packed, id_key("e-1"), t, window_minutes=60) for t in (100, 160, 161)]
    [True, True, False]
    >>> is_duplicate(packed, id_key("e-2"), 100, window_minutes=60)
    False
    """
    index = _find(packed, key) if packed else -1
    return index >= 0 and clock - _stamp(packed, index) <= window_minutes


def remember(packed: bytes, key: bytes, clock: int, *, window_minutes: int,
             cap: int) -> tuple[bytes, int]:
    """Add ``key`` stamped at minute ``clock``; forget what the window left behind.

    Returns the new packing and how many ids the ``cap`` evicted while still inside the
    window (they can no longer catch a copy). A ``clock`` before the newest stamp counts as
    that stamp (the user's clock never goes back). ``ValueError`` on a bad window or cap.

    >>> packed = b""
    >>> for i in range(4):
    ...     packed, evicted = remember(packed, id_key(f"e-{i}"), 100 + i, window_minutes=60,
    ...                                cap=3)
    >>> count(packed), evicted  # e-0 had to go although it was inside the window
    (3, 1)
    >>> packed, evicted = remember(packed, id_key("e-9"), 163, window_minutes=60, cap=3)
    >>> stamps(packed), evicted  # e-1 and e-2 fell out of the window: no eviction
    ([103, 163], 0)
    """
    if not 0 < window_minutes <= MAX_WINDOW_MINUTES or cap < 1:
        raise ValueError(f"need 0 < window_minutes <= {MAX_WINDOW_MINUTES} and cap >= 1, got "
                         f"{window_minutes} and {cap}")
    if not packed:
        return HEADER.pack(clock) + key + _ZERO, 0
    n = (len(packed) - HEADER.size) // ENTRY_BYTES
    base = _u32(packed)[0]
    clock = max(clock, base + _u16(packed, len(packed) - STAMP.size)[0])
    cutoff = clock - window_minutes - base  # as an offset from base
    kept, pos = 0, HEADER.size + HASH_BYTES
    while kept < n and _u16(packed, pos)[0] < cutoff:  # each id is cut once: O(1) amortized
        kept += 1
        pos += ENTRY_BYTES
    evicted = max(0, n - kept + 1 - cap)
    kept += evicted
    if kept == n:
        return HEADER.pack(clock) + key + _ZERO, evicted
    body = packed[HEADER.size + kept * ENTRY_BYTES:]
    if clock - base > 0xFFFF:  # rare: the kept stamps move to a newer base
        new_base = _stamp(packed, kept)
        entries = [body[i:i + HASH_BYTES]
                   + STAMP.pack(_stamp(packed, kept + i // ENTRY_BYTES) - new_base)
                   for i in range(0, len(body), ENTRY_BYTES)]
        base, body = new_base, b"".join(entries)
    return HEADER.pack(base) + body + key + STAMP.pack(clock - base), evicted
