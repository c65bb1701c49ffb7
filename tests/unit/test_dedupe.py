"""Time-windowed dedupe: a copy within the window is dropped however busy the user was."""

from __future__ import annotations

import pytest

from online_models.contract import Event
from online_models.dedupe import (
    HEADER,
    STAMP,
    count,
    id_key,
    is_duplicate,
    remember,
    stamps,
)
from online_models.profile import ProfileConfig, UserState, apply_event

pytestmark = pytest.mark.unit
T0 = 1_767_225_600.0  # 2026-01-01
HOUR = 3600.0


def _buy(event_id: str, ts: float, price: float = 10.0) -> Event:
    return Event(event_id, "u-1", "purchase", ts, category="shoes", price=price)


def _view(event_id: str, ts: float) -> Event:
    return Event(event_id, "u-1", "view", ts, category="shoes")


@pytest.mark.parametrize("between", [100, 1000])
def test_apply_event__copy_after_many_events_within_window_is_dropped(between: int) -> None:
    s, cfg = UserState(), ProfileConfig()
    assert apply_event(s, _buy("order-1", T0), cfg)
    step = 20 * HOUR / between  # all of them within 20 hours
    for i in range(between):
        assert apply_event(s, _view(f"v-{i}", T0 + (i + 1) * step), cfg)
    assert not apply_event(s, _buy("order-1", T0), cfg)  # the client's retry
    assert (s.events, s.purchases, s.revenue) == (between + 1, 1, 10.0)
    assert s.seen_evicted == 0 and count(s.seen) == between + 1


def test_apply_event__copy_beyond_window_counts_again() -> None:
    s, cfg = UserState(), ProfileConfig(dedup_hours=24)
    apply_event(s, _buy("order-1", T0), cfg)
    apply_event(s, _view("v-1", T0 + 23.9 * HOUR), cfg)
    assert not apply_event(s, _buy("order-1", T0), cfg)  # still within 24 h of the clock
    apply_event(s, _view("v-2", T0 + 24 * HOUR + 120), cfg)  # the clock moves past the window
    assert apply_event(s, _buy("order-1", T0), cfg)  # documented: it counts again
    assert (s.purchases, s.revenue) == (2, 20.0)


def test_apply_event__window_is_on_the_users_clock_not_on_event_count() -> None:
    s, cfg = UserState(), ProfileConfig(dedup_hours=1)
    apply_event(s, _buy("order-1", T0), cfg)
    # A user silent for a week: the copy arrives with the original's time, the clock is T0.
    assert not apply_event(s, _buy("order-1", T0), cfg)
    # A late event is remembered at the user's clock, not at its own (older) time.
    apply_event(s, _view("v-late", T0 - 5 * HOUR), cfg)
    assert not apply_event(s, _view("v-late", T0 - 5 * HOUR), cfg)


def test_apply_event__cap_evicts_oldest_and_counts_those_inside_window() -> None:
    s, cfg = UserState(), ProfileConfig(dedup_max_ids=50)
    for i in range(60):
        assert apply_event(s, _view(f"v-{i}", T0 + i * 60), cfg)
    assert count(s.seen) == 50 and s.seen_evicted == 10
    assert not apply_event(s, _view("v-59", T0 + 59 * 60), cfg)  # kept: dropped
    assert apply_event(s, _view("v-0", T0), cfg)  # evicted inside the window: counts again
    assert s.seen_evicted == 11  # remembering it again evicted one more


def test_apply_event__ids_outside_window_are_pruned_on_apply() -> None:
    s, cfg = UserState(), ProfileConfig(dedup_hours=24)
    for i in range(10):
        apply_event(s, _view(f"v-{i}", T0 + i * 60), cfg)
    apply_event(s, _view("v-next-day", T0 + 25 * HOUR), cfg)
    assert count(s.seen) == 1 and s.seen_evicted == 0


def test_user_state__remembered_ids_survive_serialization() -> None:
    s, cfg = UserState(), ProfileConfig()
    for i in range(300):
        apply_event(s, _view(f"v-{i}", T0 + i * 60), cfg)
    back = UserState.from_bytes(s.to_bytes())
    assert back == s and back.seen == s.seen
    assert not apply_event(back, _view("v-0", T0), cfg)
    assert UserState.from_dict({"recent": "AAAAAA==", "events": 3}).seen == b""  # old states


def test_remember__stamps_rebase_after_weeks_without_losing_ids() -> None:
    packed, window = b"", 24 * 60
    for day in range(70):  # one id every 20 hours: never empty, stamps pass uint16 minutes
        clock = 29_000_000 + day * 20 * 60
        packed, evicted = remember(packed, id_key(f"e-{day}"), clock, window_minutes=window,
                                   cap=100)
        assert evicted == 0
    assert stamps(packed) == [29_000_000 + d * 1200 for d in (68, 69)]
    assert is_duplicate(packed, id_key("e-68"), clock, window_minutes=window)
    assert not is_duplicate(packed, id_key("e-67"), clock, window_minutes=window)


def test_is_duplicate__ignores_a_match_across_two_entries() -> None:
    h1, h2 = b"\x01" * 4 + b"ABCD", b"EFGH" + b"\x02" * 4
    packed = HEADER.pack(1000) + h1 + STAMP.pack(0) + h2 + STAMP.pack(1)
    straddling = b"ABCD" + STAMP.pack(0) + b"EF"
    assert not is_duplicate(packed, straddling, 1001, window_minutes=60)
    assert is_duplicate(packed, h2, 1001, window_minutes=60)


def test_id_key__distinct_for_many_ids() -> None:
    keys = {id_key(f"evt-{i}") for i in range(200_000)}
    assert len(keys) == 200_000


@pytest.mark.parametrize(("hours", "cap"), [(0.0, 10), (721.0, 10), (24.0, 0)])
def test_profile_config__rejects_bad_dedupe_settings(hours: float, cap: int) -> None:
    with pytest.raises(ValueError):
        ProfileConfig(dedup_hours=hours, dedup_max_ids=cap)


def test_remember__rejects_bad_window_or_cap() -> None:
    with pytest.raises(ValueError):
        remember(b"", id_key("e"), 0, window_minutes=0, cap=1)
    with pytest.raises(ValueError):
        remember(b"", id_key("e"), 0, window_minutes=60, cap=0)
