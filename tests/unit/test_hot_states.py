"""Hot user states: least recently kept go first, a taken state is not held, nothing shared."""

from __future__ import annotations

import pytest

from online_models.profile import UserState
from streams.runtime.hot_states import HotStates

pytestmark = pytest.mark.unit


def kept(hot: HotStates, user: str, events: int) -> bytes:
    """Keep a state of ``events`` events for ``user``; returns its table value (its bytes)."""
    state = UserState(events=events, counts={"view": events}, segments={"value": "low"},
                      pending_labels=[[events, 1]], alert_state=[events])
    hot.keep(user, state)
    return state.to_bytes()


def test_hot_states__the_least_recently_kept_user_is_evicted_at_the_cap() -> None:
    hot = HotStates(3)
    for user in ("a", "b", "c"):
        kept(hot, user, 1)
    kept(hot, "a", 2)  # kept again: now the most recent
    kept(hot, "d", 1)
    assert hot.users() == ["c", "a", "d"] and hot.evicted == 1
    assert hot.take("b", {"events": 7}).events == 7  # evicted: decoded from the table value
    assert hot.take("a", None).events == 2  # held: the table value is not read
    assert (hot.hits, hot.misses) == (1, 1)


def test_hot_states__capacity_zero_holds_nobody() -> None:
    hot = HotStates(0)
    kept(hot, "a", 1)
    assert len(hot) == 0 and hot.take("a", {"events": 3}).events == 3
    with pytest.raises(ValueError):
        HotStates(-1)


def test_hot_states__a_taken_state_is_not_held_until_kept_again() -> None:
    hot = HotStates(10)
    kept(hot, "a", 1)
    state = hot.take("a", None)
    assert "a" not in hot  # a step that fails now leaves nothing behind
    assert hot.take("a", {"events": 1, "counts": {"view": 1}}) is not state  # the table's


def test_hot_states__a_step_never_changes_the_table_value_it_came_from() -> None:
    hot = HotStates(10)
    value = kept(hot, "a", 1)
    before = UserState.from_bytes(value)
    state = hot.take("a", value)
    state.counts["view"] += 5
    state.segments["value"] = "high"
    state.pending_labels.append([9, 9])
    state.alert_state.append(9)
    assert UserState.from_bytes(value) == before  # what the table and changelog hold


def test_hot_states__drop_and_clear_forget_users() -> None:
    hot = HotStates(10)
    for user in ("a", "b", "c"):
        kept(hot, user, 1)
    hot.drop("b")
    hot.drop("unknown")
    assert hot.users() == ["a", "c"]
    hot.clear()
    assert len(hot) == 0 and hot.take("a", {"events": 4}).events == 4
