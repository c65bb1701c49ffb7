"""Hot user states: the decoded :class:`UserState` of recently active users, kept in memory.

The profile table (tables.py) stays the one place a user's kept state lives: its compact
JSON bytes (``UserState.to_bytes()``) per user, written when a step's outputs are sent, read
by ticks, erasure, expiry and the rebuild after an assignment, and sent to the changelog by
the sink. Decoding those bytes into a :class:`UserState` for every message of the same user
is the part this module saves: a user's state, once kept, is also held here, decoded, and the
next step of the user starts from it instead of from the table.

Rules that keep it equal to the table:

* :meth:`HotStates.take` removes the user's entry while a step works on it; the step keeps it
  again (:meth:`HotStates.keep`) only where the table is written (``Effects.settle``, once the
  outputs are sent). A step that fails or is abandoned leaves no entry: the next message of
  the user decodes the table's value, the last kept state.
* The table's value and the entry share nothing: the table holds bytes, encoded from the
  state when it was kept, so a later step that changes the held state in place never
  changes a value already in the table or queued for the changelog. (A dict given to
  :meth:`take` is decoded into a state with its own containers, as bytes are.)
* Whatever changes the table otherwise drops entries: an erasure (:meth:`drop`) and every
  new assignment (:meth:`clear`, before its first message; the table is then recovered).

At most ``capacity`` users are held (``LIFELINE_HOT_STATES``; 0 turns it off); the least
recently kept go first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from online_models.profile import UserState, stored


class HotStates:
    """Decoded states of recently active users, least recently kept first, at most
    ``capacity`` of them.

    >>> hot = HotStates(2)
    >>> s = hot.take("u1", b'{"events":3,"counts":{"view":3}}')  # not held: decoded
    >>> s.counts["view"] += 1; s.events += 1
    >>> kept = s.to_bytes(); hot.keep("u1", s)  # written to the table, and held
    >>> t = hot.take("u1", kept)  # held: not decoded again, not held while the step runs
    >>> t is s, t.events, t.counts, "u1" in hot
    (True, 4, {'view': 4}, False)
    >>> t.counts["view"] += 1; UserState.from_bytes(kept).counts  # the table's is unchanged
    {'view': 4}
    >>> hot.keep("u1", t); hot.keep("u2", UserState()); hot.keep("u3", UserState())
    >>> sorted(hot.users()), hot.evicted  # u1 was the least recently kept
    (['u2', 'u3'], 1)
    >>> hot.drop("u2"); len(hot), (hot.hits, hot.misses)
    (1, (1, 1))
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 0:
            raise ValueError("capacity must be >= 0")
        self.capacity = capacity
        self._states: OrderedDict[str, UserState] = OrderedDict()
        self.hits = self.misses = self.evicted = 0

    def __len__(self) -> int:
        return len(self._states)

    def __contains__(self, user_id: object) -> bool:
        return user_id in self._states

    def users(self) -> list[str]:
        """The users held, least recently kept first."""
        return list(self._states)

    def take(self, user_id: str, raw: bytes | dict[str, Any] | None) -> UserState:
        """The user's kept state for a step: the held one (no longer held until
        :meth:`keep`), else ``raw`` (the table's value, :meth:`UserState.to_bytes`) decoded."""
        state = self._states.pop(user_id, None)
        if state is None:
            self.misses += 1
            return UserState.from_dict(stored(raw))
        self.hits += 1
        return state

    def keep(self, user_id: str, state: UserState) -> None:
        """Hold ``state``, the user's state just written to the table (as its bytes: the
        next step may change it in place)."""
        if not self.capacity:
            return
        states = self._states
        states[user_id] = state
        states.move_to_end(user_id)
        while len(states) > self.capacity:
            states.popitem(last=False)
            self.evicted += 1

    def drop(self, user_id: str) -> None:
        """Forget the user (its table value changed otherwise, e.g. it was erased)."""
        self._states.pop(user_id, None)

    def clear(self) -> None:
        """Forget everyone (a new assignment: the table is recovered)."""
        self._states.clear()

