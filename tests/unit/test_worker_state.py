"""Unit tests for `streams.runtime.worker_state`: per-partition runtime state and its clock."""

from __future__ import annotations

import pytest

from streams.runtime.continuity import mark_key
from streams.runtime.worker_state import PartitionState, WorkerState

pytestmark = pytest.mark.unit

NOW = 1_800_000_000.0


def test_worker_state__rebuild_replaces_every_partition_from_the_table() -> None:
    worker = WorkerState(now=lambda: NOW)
    old = worker[0]
    old.delivered, old.watermark = 41, 5.0
    old.schedule.schedule("gone", 1.0)
    worker.rebuild([
        ("a", {"last_seen": 100.0, "ext": {"p": 0, "due": 200}}),
        ("b", {"last_seen": 300.0, "ext": {"p": 0}}),
        ("c", {"last_seen": 50.0, "ext": {"p": 1, "due": 60}}),
        ("no-partition", {"last_seen": 999.0}),
        (mark_key(0), {"next": 12}),
        (mark_key(3), {"next": 7}),
    ])
    part = worker[0]
    assert part is not old
    assert (part.watermark, part.mark, part.delivered) == (300.0, 12, None)
    assert part.schedule.pop_due(1e9) == ["a"]  # 'gone' left with the old assignment
    assert (worker[1].watermark, worker[1].mark) == (50.0, None)
    assert (worker[3].watermark, worker[3].mark) == (None, 7)


def test_worker_state__rebuild_never_puts_a_watermark_past_now() -> None:
    worker = WorkerState(now=lambda: NOW)
    worker.rebuild([("a", {"last_seen": NOW + 3600, "ext": {"p": 0}})])
    assert worker[0].watermark == NOW


def test_worker_state__stale_until_ready_for_the_latest_assignment() -> None:
    worker = WorkerState()
    worker.ready(worker.assignment)
    assert not worker.stale
    started = worker.assignment
    worker.assigned()  # a rebalance while the rebuild was under way
    worker.ready(started)
    assert worker.stale
    worker.ready(worker.assignment)
    assert not worker.stale


def test_worker_state__tick_time_is_capped_at_now_plus_skew_and_never_goes_back() -> None:
    worker = WorkerState(now=lambda: NOW, max_future_skew_s=600.0)
    assert worker.tick_time(0, NOW + 50 * 365 * 86_400.0) == NOW + 600.0
    assert worker.tick_time(0, NOW - 86_400.0) == NOW + 600.0  # never backwards
    assert worker.tick_time(1, None) == 0.0  # no event yet, no time given
    assert worker[0].watermark == NOW + 600.0


def test_worker_state__event_time_applies_future_events_but_holds_at_now() -> None:
    clock = [NOW]
    worker = WorkerState(now=lambda: clock[0])
    assert worker.event_time(0, NOW - 10) == NOW - 10  # not stored by event_time itself
    worker[0].watermark = NOW - 10
    assert worker.event_time(0, NOW + 3600) == NOW
    assert worker.event_time(0, NOW - 3600) == NOW - 10  # late: the clock stays
    clock[0] = NOW + 7200  # the wall clock moved on: so may the watermark
    assert worker.event_time(0, NOW + 3600) == NOW + 3600


def test_worker_state__negative_skew_is_refused() -> None:
    with pytest.raises(ValueError, match="max_future_skew_s"):
        WorkerState(max_future_skew_s=-1.0)


def test_partition_state__mark_moves_forward_only() -> None:
    part = PartitionState(0, mark=10)
    assert part.gap(10) is None and part.gap(13) == (10, 13)
    assert part.advance_mark(4) == {"next": 10}  # an old offset (a gap being filled) keeps it
    assert part.advance_mark(12) == {"next": 13}


def test_tune_process__freezes_the_started_worker_once_and_shortens_the_gil_interval() -> None:
    from unittest.mock import patch

    from streams.runtime import intake

    with patch.object(intake, "_tuned", []), patch.object(intake.gc, "freeze") as freeze, \
            patch.object(intake.gc, "collect") as collect, \
            patch.object(intake.sys, "setswitchinterval") as switch:
        intake.tune_process()
        intake.tune_process()  # a later assignment: what is alive then may not live as long
    assert freeze.call_count == 1 and collect.call_count == 1
    switch.assert_called_once_with(intake.GIL_SWITCH_S)


def test_rebuild__skips_table_values_that_are_not_json() -> None:
    worker = WorkerState(now=lambda: 500.0)
    worker.rebuild([("u1", b"not json"), ("u2", b'{"last_seen":90.0,"ext":{"p":1,"due":120}}'),
                    ("\x00lifeline-next-offset:1", b"\xff\xfe"), ("u3", b"")])
    part = worker[1]
    assert part.schedule.due_at("u1") is None and part.schedule.due_at("u2") == 120.0
    assert part.mark is None and part.watermark == 90.0
