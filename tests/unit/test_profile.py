"""Unit tests for `online_models.profile`: the user state's named fields and compact form."""

from __future__ import annotations

import tracemalloc
from dataclasses import fields
from typing import Any

import orjson
import pytest

from online_models.contract import EVENT_TYPES
from online_models.profile import KEYS, TYPE_CODES, Placement, UserState, placement, stored

pytestmark = pytest.mark.unit

# A state as the worker wrote it before the bookkeeping fields had names: every short key of
# the "ext" object, in the order the step happened to set them.
OLD_FORMAT = {
    "first_seen": 1.0e9, "last_seen": 1.0e9 + 600, "events": 4, "purchases": 2,
    "revenue": 80.5, "segments": {"lifecycle": "active", "value": "loyal"},
    "ext": {
        "seg_lc_at": 1.0e9 + 600, "seg_lc_since": 1.0e9 + 30.5, "rs": 1_000_000_600,
        "lp": [4711, 1_000_000_000, {"recency_days": 0.0}, 604_800, {"recency_days": 7}],
        "lb": 1, "al": [1, 1, 1, 1_000_000_300, 1, 0, 0], "due": 1_000_604_800, "p": 3,
    },
}


OLD_STYLE = {"counts": {"view": 1}, "affinity": {"shoes": 1.5}, "segments": {"value": "loyal"},
             "ext": {"lp": [1, 2, 3], "al": [1, 0, 0, 0, 0, 0, 0]}}


def test_user_state__old_format_loads_into_named_fields() -> None:
    s = UserState.from_bytes(orjson.dumps(OLD_FORMAT))
    assert (s.partition, s.due, s.rfm_sampled_at) == (3, 1_000_604_800, 1_000_000_600)
    assert s.pending_labels == OLD_FORMAT["ext"]["lp"]  # type: ignore[index]  # a dict literal
    assert (s.bought_mask, s.alert_state) == (1, [1, 1, 1, 1_000_000_300, 1, 0, 0])
    assert (s.lifecycle_evaluated_at, s.lifecycle_since) == (1.0e9 + 600, 1.0e9 + 30.5)
    assert (s.events, s.revenue, s.segments["value"]) == (4, 80.5, "loyal")


def test_user_state__old_format_is_written_again_in_the_short_form() -> None:
    s = UserState.from_dict(OLD_FORMAT)
    written = s.to_dict()
    assert "ext" not in written and not set(written) & {f.name for f in fields(UserState)}
    assert repr(UserState.from_bytes(s.to_bytes())) == repr(s)  # every field, type and order
    assert len(s.to_bytes()) < 0.8 * len(orjson.dumps(OLD_FORMAT))


def test_user_state__defaults_are_omitted() -> None:
    s = UserState(events=1)
    assert s.to_dict() == {"n": 1}
    s.partition, s.bought_mask, s.alert_state = 0, 0, []
    assert s.to_dict() == {"n": 1, "p": 0}  # partition 0 is not the default
    s.partition = None
    assert len(s.to_bytes()) == len(b'{"n":1}')


def test_user_state__every_field_round_trips_alone() -> None:
    values: dict[str, Any] = {
        "first_seen": 1.5, "last_seen": 2.5, "events": 3, "counts": {"view": 1, "new-type": 2},
        "purchases": 1, "revenue": 9.99, "refunded": 1.5, "first_purchase": 3.5,
        "last_purchase": 4.5, "gap_n": 2, "gap_mean": 0.5, "gap_m2": 0.25, "sessions": 2,
        "session": 77, "cart_open": 1, "cart_adds": 2, "cart_abandons": 1,
        "affinity": {"shoes": 2.0, "bags": 0.25}, "affinity_ts": 5.5, "seen": b"\x01" * 14,
        "seen_evicted": 1, "offset": 12, "sentiment": -0.5, "reviews": 1, "churn_risk": 0.3,
        "segments": {"lifecycle": "active"}, "partition": 2, "due": 5, "rescore_stretch": 3,
        "rfm_sampled_at": 7, "pending_labels": [1, 2, [3]], "bought_mask": 2,
        "alert_state": [1, 0, 0, 0, 0, 0, 0], "lifecycle_evaluated_at": 9.5,
        "lifecycle_since": 8.0}
    assert set(values) == set(KEYS) == {f.name for f in fields(UserState)}
    for name, value in values.items():
        s = UserState(**{name: value})
        assert list(s.to_dict()) == [KEYS[name]]
        assert repr(UserState.from_bytes(s.to_bytes())) == repr(s), name
    full = UserState(**values)
    assert repr(UserState.from_bytes(full.to_bytes())) == repr(full)


def test_user_state__times_are_milliseconds_after_last_seen_only_where_exact() -> None:
    last = 1_790_000_000.125
    s = UserState(last_seen=last, first_seen=last - 86_400.5, affinity_ts=last,
                  lifecycle_evaluated_at=last + 0.1, lifecycle_since=last - 1e-4,
                  first_purchase=1e-300, last_purchase=9000)
    d = s.to_dict()
    assert (d["f"], d["ta"]) == (-86_400_500, 0)
    assert type(d["ya"]) is int and last + d["ya"] / 1000 == s.lifecycle_evaluated_at
    assert d["ys"] == last - 1e-4 and d["bf"] == 1e-300  # not whole milliseconds: as they are
    assert d["bl"] == -1_789_991_000_125  # 9000 s (an integer): as an offset, exact
    back = UserState.from_bytes(s.to_bytes())
    assert back == s and type(back.first_seen) is float
    assert UserState(first_seen=5.0).to_dict() == {"f": 5.0}  # no last_seen: as it is


def test_user_state__whole_numbers_that_are_not_offsets_stay_apart_from_them() -> None:
    # An integer time that cannot be written as an offset is written as a float: read back
    # as an integer it would be taken for milliseconds after last_seen.
    s = UserState(last_seen=1_790_000_000.0001, first_seen=1_789_000_000)
    d = s.to_dict()
    assert d["f"] == 1_789_000_000 and type(d["f"]) is float
    assert UserState.from_bytes(s.to_bytes()).first_seen == 1_789_000_000


def test_user_state__due_and_rfm_sample_are_seconds_after_last_seen() -> None:
    s = UserState(last_seen=1_790_000_000.9, due=1_790_604_800, rfm_sampled_at=1_789_999_000)
    assert (s.to_dict()["d"], s.to_dict()["rs"]) == (604_800, -1000)
    assert UserState.from_bytes(s.to_bytes()) == s
    assert placement(s.to_bytes()) == Placement(None, 1_790_604_800.0, 1_790_000_000.9)
    alone = UserState(due=120, rfm_sampled_at=60)  # no last_seen: as they are
    assert alone.to_dict() == {"d": 120, "rs": 60} and placement(alone.to_dict()).due == 120


def test_user_state__first_label_snapshot_time_is_seconds_after_last_seen() -> None:
    labels = [4711, 1_790_000_000, [1, 2], 600, {"recency_days": 7}]
    s = UserState(last_seen=1_790_003_600.5, pending_labels=labels)
    assert s.to_dict()["lp"] == [4711, -3600, [1, 2], 600, {"recency_days": 7}]
    assert s.pending_labels[1] == 1_790_000_000  # the state's own list is left as it was
    back = UserState.from_bytes(s.to_bytes())
    assert back.pending_labels == labels and type(back.pending_labels[1]) is int
    odd = UserState(last_seen=5.0, pending_labels=[1, 2.5, 3])  # not whole seconds: as it is
    assert odd.to_dict()["lp"] == [1, 2.5, 3] and UserState.from_bytes(odd.to_bytes()) == odd


def test_user_state__event_types_are_coded() -> None:
    s = UserState(counts={"view": 3, "purchase": 1, "other": 2, "x-new": 1})
    d = s.to_dict()
    assert d["c"] == {"2": 3, "6": 1, "9": 2, "x-new": 1}
    assert list(d["c"]) == ["2", "6", "9", "x-new"]  # the order is kept
    back = UserState.from_bytes(s.to_bytes())
    assert back.counts == s.counts and list(back.counts) == list(s.counts)
    assert set(TYPE_CODES) == EVENT_TYPES | {"other"}
    assert not set(TYPE_CODES.values()) & set(TYPE_CODES)


@pytest.mark.parametrize("form", ["short", "earlier"])
def test_user_state__loading_copies_containers(form: str) -> None:
    s = UserState(pending_labels=[1, 2, 3], alert_state=[1, 0, 0, 0, 0, 0, 0],
                  counts={"view": 1}, affinity={"shoes": 1.5}, segments={"value": "loyal"})
    stored = s.to_dict() if form == "short" else OLD_STYLE
    before = orjson.dumps(stored)
    s = UserState.from_dict(stored)
    s.pending_labels.append(4)
    s.alert_state[0] = 9
    s.counts["view"] += 1
    s.affinity["shoes"] = 9.0
    s.segments["value"] = "new"
    assert orjson.dumps(stored) == before


def test_user_state__unknown_keys_are_ignored() -> None:
    s = UserState.from_dict({"events": 1, "partition": 4, "ext": {"zz": 1, "p": 2}})
    assert (s.events, s.partition) == (1, 2)
    s = UserState.from_dict({"n": 1, "zz": 4, "ext2": {"p": 2}})
    assert (s.events, s.partition) == (1, None)


def test_placement__reads_a_stored_state_without_decoding_it() -> None:
    assert placement(OLD_FORMAT) == Placement(3, 1_000_604_800.0, 1.0e9 + 600)
    assert placement({"events": 1}) == Placement(None, None, None)
    assert placement({"next": 7}) == Placement(None, None, None)  # a partition's mark
    assert placement(UserState(partition=0, last_seen=5.0).to_dict()) == (0, None, 5.0)
    assert placement({"at": 5.0}) == Placement(None, None, None)  # an erased marker


def test_placement__reads_the_bytes_the_table_stores() -> None:
    state = UserState(partition=2, due=50.0, last_seen=9.0, events=4)
    assert placement(state.to_bytes()) == Placement(2, 50.0, 9.0)
    assert placement(b'{"next":7}') == Placement(None, None, None)  # a partition's mark
    assert stored(state.to_bytes()) == state.to_dict() and stored(None) is None


def test_to_bytes__is_right_sized_for_the_table_to_keep() -> None:
    # orjson.dumps returns its buffer over-allocated (about 8 KiB for 1 KiB): the table keeps
    # each value while the user is idle, so the copy it gets must cost its length.
    state = UserState(events=40, counts={f"type-{i}": i for i in range(60)}, revenue=12.5)
    tracemalloc.start()
    try:
        value = state.to_bytes()
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert 600 < len(value) and held < len(value) + 256


def test_table_values__read_both_ways_with_fausts_json_codec() -> None:
    # The table's changelog was written with Faust's "json" codec before it held bytes: those
    # records load as they are, and a release that still uses that codec reads the new ones.
    from faust.serializers import codecs

    state = UserState(events=3, revenue=12.5, partition=1, due=120.0, last_seen=90.0,
                      counts={"view": 3}, seen=b"\x01" * 14)
    written_before = codecs.dumps("json", state.to_dict())
    assert UserState.from_dict(stored(written_before)) == state
    assert codecs.loads("json", state.to_bytes()) == state.to_dict()
    assert codecs.loads("json", orjson.dumps({"next": 7})) == {"next": 7}  # a mark
