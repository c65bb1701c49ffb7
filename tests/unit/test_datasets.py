"""Unit tests for `streams.data.datasets`: CDNOW parsing, the synthetic generator, file I/O."""

from __future__ import annotations

import csv
import itertools
from collections import Counter
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from streams.data.datasets import (
    FIELDS,
    cdnow_events,
    cdnow_path,
    read_events,
    synthetic_events,
    synthetic_truth,
    write_jsonl,
)

pytestmark = pytest.mark.unit

SMALL: dict[str, Any] = {"users": 150, "days": 60, "seed": 11}
EVENT_TYPES = {
    "signup", "login", "view", "search", "add_to_cart", "remove_from_cart", "purchase",
    "refund", "review",
}  # fmt: skip


@pytest.fixture(scope="module")
def cdnow() -> list[dict[str, Any]]:
    return list(cdnow_events())


@pytest.fixture(scope="module")
def synthetic() -> list[dict[str, Any]]:
    return list(synthetic_events(**SMALL))


def _day(event: dict[str, Any], start: date) -> int:
    return (datetime.fromisoformat(event["ts"]).date() - start).days


def test_cdnow_events__count_and_revenue(cdnow: list[dict[str, Any]]) -> None:
    file_total = Decimal(0)
    with open(cdnow_path()) as handle:
        next(handle)
        for line in handle:
            file_total += Decimal(line.split()[3])
    revenue = sum(Decimal(str(e["price"])) * e["quantity"] for e in cdnow)
    assert len(cdnow) == 69_659
    assert len({e["user_id"] for e in cdnow}) == 23_570
    assert revenue == file_total
    assert all(e["price"] >= 0 and e["quantity"] >= 1 for e in cdnow)


def test_cdnow_events__contract_and_dates(cdnow: list[dict[str, Any]]) -> None:
    assert all(list(e) == list(FIELDS) for e in cdnow)
    assert {e["type"] for e in cdnow} == {"purchase"}
    assert {e["category"] for e in cdnow} == {"music"}
    assert cdnow[0]["ts"] == "1997-01-01T12:00:00Z" and cdnow[0]["user_id"] == "cdnow-1"
    times = [datetime.fromisoformat(e["ts"]) for e in cdnow]
    assert times == sorted(times)
    assert min(times).date() == date(1997, 1, 1)
    assert max(times).date() == date(1998, 6, 30)
    assert all(t.tzinfo is not None and t.hour == 12 for t in times)


def test_cdnow_events__ids_unique_and_deterministic(cdnow: list[dict[str, Any]]) -> None:
    ids = [e["event_id"] for e in cdnow]
    assert len(set(ids)) == len(ids)
    assert ids == [e["event_id"] for e in cdnow_events()]


def test_cdnow_events__zero_dollar_rows_kept(cdnow: list[dict[str, Any]]) -> None:
    free = [e for e in cdnow if e["price"] == 0]
    assert free and all(e["quantity"] == 1 for e in free)


def test_cdnow_path__missing_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install lifetimes"):
        cdnow_path()


def test_synthetic_events__deterministic(synthetic: list[dict[str, Any]]) -> None:
    assert synthetic == list(synthetic_events(**SMALL))
    assert synthetic != list(synthetic_events(**{**SMALL, "seed": 12}))


def test_synthetic_events__sorted_labelled_and_complete(synthetic: list[dict[str, Any]]) -> None:
    assert [e["ts"] for e in synthetic] == sorted(e["ts"] for e in synthetic)
    assert {e["type"] for e in synthetic} == EVENT_TYPES
    assert all(list(e) == list(FIELDS) for e in synthetic)
    assert all(e["user_id"].startswith("syn-u-") for e in synthetic)
    assert all(e["event_id"].startswith("syn-") and e["session_id"] for e in synthetic)
    assert len({e["event_id"] for e in synthetic}) == len(synthetic)
    assert all(e["query"] for e in synthetic if e["type"] == "search")
    for e in synthetic:
        if e["type"] in {"purchase", "refund"}:
            assert e["price"] > 0 and e["quantity"] >= 1 and e["item_id"] and e["category"]


def test_synthetic_events__review_rating_and_sentiment(synthetic: list[dict[str, Any]]) -> None:
    reviews = [e for e in synthetic if e["type"] == "review"]
    assert reviews and {e["rating"] for e in reviews} <= {1, 2, 3, 4, 5}
    assert all(isinstance(e["text"], str) and e["text"] for e in reviews)
    good = " ".join(e["text"] for e in reviews if e["rating"] >= 4).lower()
    bad = " ".join(e["text"] for e in reviews if e["rating"] <= 2).lower()
    assert "love it" in good and "love it" not in bad
    assert "waste of money" in bad and "waste of money" not in good


def test_synthetic_truth__groups_match_behaviour(synthetic: list[dict[str, Any]]) -> None:
    truth = synthetic_truth(**SMALL)
    assert len(truth) == SMALL["users"]
    assert {e["user_id"] for e in synthetic} <= set(truth)
    assert {t["group"] for t in truth.values()} <= set(range(6))
    kind: Counter[str] = Counter()
    for e in synthetic:
        if e["type"] in {"view", "purchase"}:
            t = truth[e["user_id"]]
            in_group = e["category"] in t["group_categories"]
            kind[
                "core" if e["category"] in t["core_categories"] else "sec" if in_group else "out"
            ] += 1
    total = sum(kind.values())
    assert kind["out"] / total < 0.06  # exploration outside the group is rare
    assert kind["core"] > 2 * kind["sec"] > 0  # graded: core categories dominate


def test_synthetic_truth__plans_are_consistent() -> None:
    truth = synthetic_truth(**SMALL)
    for t in truth.values():
        group, core = t["group_categories"], t["core_categories"]
        assert len(group) == 7 and core == group[:3]
        assert sorted(t["start_categories"] + t["discovery_order"]) == sorted(group)
        assert 2 <= len(set(t["start_categories"]) & set(core)) <= 3
        assert 0.02 <= t["discovery_pace"] <= 0.15
    # secondary categories are shared within a group, and groups differ
    by_group = {t["group"]: tuple(t["group_categories"]) for t in truth.values()}
    assert all(tuple(t["group_categories"]) == by_group[t["group"]] for t in truth.values())
    assert len(set(by_group.values())) == len(by_group) == 6


def _first_touches(events: list[dict[str, Any]]) -> dict[str, list[str]]:
    """Per user, categories in order of first touch (by session number, then event number)."""
    order: dict[str, list[tuple[int, int, str]]] = {}
    for e in events:
        if e["category"]:
            session = int(e["session_id"].rsplit("-", 1)[1])
            seq = int(e["event_id"].rsplit("-", 1)[1])
            order.setdefault(e["user_id"], []).append((session, seq, e["category"]))
    return {u: list(dict.fromkeys(c for *_, c in sorted(rows))) for u, rows in order.items()}


def test_synthetic_events__users_discover_their_group_over_time(
    synthetic: list[dict[str, Any]],
) -> None:
    truth = synthetic_truth(**SMALL)
    discovered = 0
    for user, cats in _first_touches(synthetic).items():
        t = truth[user]
        new = [c for c in cats if c in t["group_categories"] and c not in t["start_categories"]]
        assert new == t["discovery_order"][: len(new)], user  # in the planted order
        discovered += len(new)
    assert discovered > SMALL["users"]  # more than one discovery per user on average
    # Discovery keeps going: in the last 30% of the days users still find group categories.
    start, split = date(2026, 1, 1), 0.7 * SMALL["days"]
    before: dict[str, set[str]] = {}
    after: dict[str, set[str]] = {}
    for e in synthetic:
        if e["category"]:
            side = before if _day(e, start) < split else after
            side.setdefault(e["user_id"], set()).add(e["category"])
    both = [u for u in after if u in before]
    finders = [u for u in both if (after[u] - before[u]) & set(truth[u]["group_categories"])]
    assert len(finders) > 0.2 * len(both)


def test_synthetic_truth__churners_silent_until_return(synthetic: list[dict[str, Any]]) -> None:
    truth = synthetic_truth(**SMALL)
    start = date(2026, 1, 1)
    days: dict[str, set[int]] = {}
    for e in synthetic:
        days.setdefault(e["user_id"], set()).add(_day(e, start))
    churners = {u: t for u, t in truth.items() if t["churn_day"] is not None}
    assert churners and any(t["return_day"] is not None for t in churners.values())
    for user, t in churners.items():
        end = t["return_day"] if t["return_day"] is not None else SMALL["days"]
        assert not {d for d in days[user] if t["churn_day"] <= d < end}, user
        if t["return_day"] is not None:
            assert t["return_day"] in days[user]
    assert all(t["return_day"] is None for t in truth.values() if t["churn_day"] is None)


def test_synthetic_events__bad_arguments() -> None:
    with pytest.raises(ValueError, match="users"):
        synthetic_events(users=0)


def test_read_events__jsonl_round_trip(tmp_path: Path) -> None:
    events: list[dict[str, Any] | bytes] = list(itertools.islice(synthetic_events(**SMALL), 50))
    events.insert(10, b'{"user_id": "u-1", broken')
    path = tmp_path / "events.jsonl"
    assert write_jsonl(events, path) == 51
    assert list(read_events(path)) == events


def test_read_events__csv_round_trip(tmp_path: Path) -> None:
    events = list(itertools.islice(synthetic_events(**SMALL), 300))
    events.append(dict(events[0], event_id="x-1", price="abc"))  # kept for the DLQ to reject
    path = tmp_path / "events.csv"
    with open(path, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=FIELDS)
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in e.items()} for e in events)
    assert list(read_events(path)) == events


def test_read_events__csv_epoch_ts(tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text("event_id,user_id,type,ts,quantity\ne-1,u-1,login,1767225600,\n")
    [event] = read_events(path)
    assert event == {"event_id": "e-1", "user_id": "u-1", "type": "login",
                     "ts": 1767225600, "quantity": None}  # fmt: skip
    assert datetime.fromtimestamp(event["ts"], UTC).year == 2026


def test_read_events__bad_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unsupported extension"):
        read_events(tmp_path / "events.parquet")


def test_synthetic_events__drift_day_makes_a_loyal_cheap_cohort_leave() -> None:
    from streams.data.synthetic import CHEAP_PRICE, DRIFT_DAYS

    kwargs: dict[str, Any] = {"users": 300, "days": 120, "seed": 5}
    plain = synthetic_truth(**kwargs)
    truth = synthetic_truth(**kwargs, drift_day=60)
    sensitive = {u for u, t in truth.items() if t.get("price_sensitive")}
    assert 50 <= len(sensitive) <= 130 and not any("price_sensitive" in t for t in plain.values())
    assert {u: plain[u] for u in plain if u not in sensitive} == {
        u: truth[u] for u in truth if u not in sensitive}  # the other plans are untouched
    leavers = [u for u in sensitive if truth[u]["abrupt"]]
    assert len(leavers) > len(sensitive) / 2
    assert all(60 <= truth[u]["churn_day"] < 60 + DRIFT_DAYS for u in leavers)
    assert all(truth[u]["churn_day"] is None for u in sensitive if u not in leavers)
    bought = [e for e in synthetic_events(**kwargs, drift_day=60)
              if e["type"] == "purchase" and e["user_id"] in sensitive]
    assert bought and all(e["price"] < CHEAP_PRICE for e in bought)
