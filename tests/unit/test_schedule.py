"""Unit tests for `online_models.schedule`: the due-user schedule."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from online_models.schedule import DueSchedule

pytestmark = pytest.mark.unit


def test_due_schedule__pops_exactly_the_due_users() -> None:
    s = DueSchedule(bucket_seconds=100)
    for i in range(1000):
        s.schedule(f"u{i}", float(i))
    assert sorted(s.pop_due(249.5), key=lambda u: int(u[1:])) == [f"u{i}" for i in range(250)]
    assert len(s) == 750 and "u249" not in s and "u250" in s
    assert s.pop_due(249.9) == []
    assert s.pop_due(250.0) == ["u250"]  # due exactly at the watermark
    assert len(s.pop_due(10_000.0)) == 749 and len(s) == 0


def test_due_schedule__skips_stale_reschedules() -> None:
    s = DueSchedule(bucket_seconds=10)
    s.schedule("a", 5.0)
    s.schedule("a", 500.0)  # later: the old entry is stale
    s.schedule("b", 300.0)
    s.schedule("b", 7.0)  # earlier
    assert s.pop_due(100.0) == ["b"]
    assert s.due_at("a") == 500.0 and len(s) == 1
    assert s.pop_due(499.0) == []
    assert s.pop_due(500.0) == ["a"]


def test_due_schedule__reschedule_inside_watermark_bucket() -> None:
    s = DueSchedule(bucket_seconds=100)
    s.schedule("a", 150.0)
    s.schedule("b", 160.0)
    assert s.pop_due(120.0) == []  # bucket 1 becomes the current heap
    s.schedule("a", 190.0)
    s.schedule("c", 110.0)  # already due when scheduled
    assert s.pop_due(165.0) == ["c", "b"]
    assert s.pop_due(195.0) == ["a"]


def test_due_schedule__watermark_never_goes_back_and_unschedule() -> None:
    s = DueSchedule(bucket_seconds=10)
    s.schedule("a", 50.0)
    s.schedule("b", 60.0)
    assert s.pop_due(55.0) == ["a"]
    s.schedule("c", 52.0)
    assert s.pop_due(0.0) == ["c"]  # behaves as the highest watermark seen
    assert s.unschedule("b") and not s.unschedule("b")
    assert s.pop_due(1000.0) == [] and len(s) == 0


def test_due_schedule__compaction_keeps_due_times() -> None:
    s = DueSchedule(bucket_seconds=1)
    rng = random.Random(2)
    truth: dict[str, float] = {}
    for _ in range(30_000):  # many reschedules of few users: stale entries pile up
        u, d = f"u{rng.randrange(500)}", rng.uniform(0, 1000)
        s.schedule(u, d)
        truth[u] = d
    assert s._entries < 3 * len(s) + 4096  # compacted
    assert sorted(s.pop_due(500.0)) == sorted(u for u, d in truth.items() if d <= 500.0)
    assert sorted(s.pop_due(1000.0)) == sorted(u for u, d in truth.items() if d > 500.0)


def test_due_schedule__misuse_raises() -> None:
    with pytest.raises(ValueError):
        DueSchedule(bucket_seconds=0)
    with pytest.raises(ValueError):
        DueSchedule().schedule("a", math.inf)
    with pytest.raises(ValueError):
        DueSchedule().pop_due(math.nan)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(
    st.tuples(st.just("s"), st.integers(0, 20), st.floats(0, 1000)),
    st.tuples(st.just("p"), st.integers(0, 0), st.floats(0, 1000)),
), max_size=80), st.sampled_from([1.0, 7.0, 50.0, 5000.0]))
def test_due_schedule__matches_reference_model(ops: list[tuple[str, int, float]],
                                               width: float) -> None:
    s, ref, wm = DueSchedule(bucket_seconds=width), {}, -math.inf
    for op, user, t in ops:
        if op == "s":
            s.schedule(f"u{user}", t)
            ref[f"u{user}"] = t
        else:
            wm = max(wm, t)
            expected = {u for u, d in ref.items() if d <= wm}
            got = s.pop_due(t)
            assert len(got) == len(set(got)) and set(got) == expected
            for u in expected:
                del ref[u]
        assert len(s) == len(ref)
