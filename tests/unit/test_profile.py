"""Unit tests for `online_models.profile`: the user state's named fields and compact form."""

from __future__ import annotations

import tracemalloc
from typing import Any

import orjson
import pytest

from online_models.profile import EXT_KEYS, Placement, UserState, placement, stored

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


def test_user_state__old_format_loads_into_named_fields() -> None:
    s = UserState.from_bytes(orjson.dumps(OLD_FORMAT))
    assert (s.partition, s.due, s.rfm_sampled_at) == (3, 1_000_604_800, 1_000_000_600)
    assert s.pending_labels == OLD_FORMAT["ext"]["lp"]  # type: ignore[index]  # a dict literal
    assert (s.bought_mask, s.alert_state) == (1, [1, 1, 1, 1_000_000_300, 1, 0, 0])
    assert (s.lifecycle_evaluated_at, s.lifecycle_since) == (1.0e9 + 600, 1.0e9 + 30.5)
    assert (s.events, s.revenue, s.segments["value"]) == (4, 80.5, "loyal")


def test_user_state__old_format_round_trips_with_the_same_keys() -> None:
    s = UserState.from_dict(OLD_FORMAT)
    written = s.to_dict()
    assert written == OLD_FORMAT  # same short keys, same values (key order aside)
    assert UserState.from_bytes(s.to_bytes()) == s
    assert len(s.to_bytes()) == len(orjson.dumps(OLD_FORMAT))


def test_user_state__defaults_are_omitted() -> None:
    s = UserState(events=1)
    assert s.to_dict() == {"events": 1}
    s.partition, s.bought_mask, s.alert_state = 0, 0, []
    assert s.to_dict() == {"events": 1, "ext": {"p": 0}}  # partition 0 is not the default
    s.partition = None
    assert len(s.to_bytes()) == len(b'{"events":1}')


def test_user_state__every_named_field_round_trips_alone() -> None:
    values: dict[str, Any] = {
        "partition": 2, "due": 5, "rescore_stretch": 3, "rfm_sampled_at": 7,
        "pending_labels": [1, 2, [3]],
        "bought_mask": 2, "alert_state": [1, 0, 0, 0, 0, 0, 0],
        "lifecycle_evaluated_at": 9.5, "lifecycle_since": 8.0}
    assert set(values) == set(EXT_KEYS)
    for name, value in values.items():
        s = UserState(**{name: value})
        assert s.to_dict() == {"ext": {EXT_KEYS[name]: value}}
        assert UserState.from_bytes(s.to_bytes()) == s


def test_user_state__loading_copies_containers() -> None:
    stored = UserState(pending_labels=[1, 2, 3], alert_state=[1, 0, 0, 0, 0, 0, 0]).to_dict()
    s = UserState.from_dict(stored)
    s.pending_labels.append(4)
    s.alert_state[0] = 9
    assert stored["ext"] == {"lp": [1, 2, 3], "al": [1, 0, 0, 0, 0, 0, 0]}


def test_user_state__unknown_keys_are_ignored() -> None:
    s = UserState.from_dict({"events": 1, "partition": 4, "ext": {"zz": 1, "p": 2}})
    assert (s.events, s.partition) == (1, 2)


def test_placement__reads_a_stored_state_without_decoding_it() -> None:
    assert placement(OLD_FORMAT) == Placement(3, 1_000_604_800.0, 1.0e9 + 600)
    assert placement({"events": 1}) == Placement(None, None, None)
    assert placement({"next": 7}) == Placement(None, None, None)  # a partition's mark
    assert placement(UserState(partition=0, last_seen=5.0).to_dict()) == (0, None, 5.0)


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
