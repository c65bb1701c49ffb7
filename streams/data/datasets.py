"""Event sources for replay, tests and benchmarks: CDNOW, a synthetic clickstream, files.

Every generator yields dicts of the ``user-events`` contract (see ``DESIGN.md``)::

    event_id user_id type ts item_id category price quantity query rating text session_id

This module is pure: no Faust, no Kafka, no environment variables.
"""

from __future__ import annotations

import csv
import importlib.util
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from streams.data.events import CATEGORIES, FIELDS, contract_event

__all__ = [
    "CATEGORIES",
    "FIELDS",
    "cdnow_events",
    "cdnow_path",
    "read_events",
    "synthetic_events",
    "synthetic_truth",
    "write_jsonl",
]

JSONL_SUFFIXES = frozenset({".jsonl", ".json", ".ndjson"})


# --------------------------------------------------------------------------- CDNOW


def cdnow_path() -> Path:
    """Locate ``CDNOW_master.txt`` inside the installed ``lifetimes`` package.

    The package is found with `importlib.util.find_spec`, never imported (importing
    ``lifetimes`` pulls in pandas/scipy and is slow).

    Raises
    ------
    FileNotFoundError
        If ``lifetimes`` is not installed or ships without the data file.

    Examples
    --------
    >>> cdnow_path().name
    'CDNOW_master.txt'
    """
    hint = "the CDNOW data ships with the 'lifetimes' package: pip install lifetimes"
    spec = importlib.util.find_spec("lifetimes")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"package 'lifetimes' not found; {hint}")
    for location in spec.submodule_search_locations:
        candidate = Path(location) / "datasets" / "CDNOW_master.txt"
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"lifetimes/datasets/CDNOW_master.txt not found; {hint}")


def _cdnow_amounts(dollars: str, cds: int) -> tuple[float, int]:
    """Split a CDNOW row's ``dollar_value`` into ``(price, quantity)``.

    ``price`` is ``dollar_value / number_of_cds`` rounded to cents. When that rounding would
    make ``price * quantity`` differ from ``dollar_value`` (about a quarter of the rows, e.g.
    3 CDs for 35.99) or ``number_of_cds`` is 0, the row becomes ``quantity=1,
    price=dollar_value``: revenue stays exact to the cent, which the value segments and
    win-back revenue depend on, at the cost of the CD count of those rows.
    """
    cents = round(float(dollars) * 100)
    if cds > 0 and cents % cds == 0:
        return cents // cds / 100, cds
    return cents / 100, 1


def cdnow_events(path: str | Path | None = None, *, every: int = 1) -> Iterator[dict[str, Any]]:
    """Yield the CDNOW purchase history (69,659 purchases, 1997-01..1998-06) as events.

    Each row becomes one ``purchase`` at noon UTC of its day, category ``music``; users are
    ``cdnow-<customer id without leading zeros>``; ``event_id`` is
    ``cdnow-<customer>-<yyyymmdd>-<n>`` with ``n`` the row's index among that customer's
    rows of that day, so ids are unique and stable. See `_cdnow_amounts` for price and
    quantity. Rows with a dollar value of 0 are kept (price 0). Sorted by time, then
    customer, then file order.

    Parameters
    ----------
    path
        The whitespace-separated ``CDNOW_master.txt``; default `cdnow_path`.
    every
        Keep every ``every``-th customer (customer id divisible by it): a deterministic
        sample with each kept customer's whole history (1: everyone).

    Examples
    --------
    >>> first = next(cdnow_events())
    >>> first["event_id"], first["user_id"], first["ts"], first["price"], first["quantity"]
    ('cdnow-1-19970101-0', 'cdnow-1', '1997-01-01T12:00:00Z', 11.77, 1)
    >>> len({e["user_id"] for e in cdnow_events(every=10)})
    2357
    >>> next(cdnow_events(every=0))
    Traceback (most recent call last):
    ...
    ValueError: every must be >= 1, got 0
    """
    if every < 1:
        raise ValueError(f"every must be >= 1, got {every}")
    rows: list[tuple[str, int, int, dict[str, Any]]] = []
    per_day: dict[tuple[int, str], int] = {}
    source = Path(path) if path is not None else cdnow_path()
    with open(source, encoding="ascii") as handle:
        for line_no, line in enumerate(handle, start=1):
            parts = line.split()
            if not parts or parts[0] == "customer_id":
                continue
            if len(parts) != 4:
                raise ValueError(f"{source}:{line_no}: expected 4 columns, got {line!r}")
            customer, day, cds, dollars = int(parts[0]), parts[1], int(parts[2]), parts[3]
            if customer % every:
                continue
            n = per_day.get((customer, day), 0)
            per_day[customer, day] = n + 1
            price, quantity = _cdnow_amounts(dollars, cds)
            ts = f"{day[:4]}-{day[4:6]}-{day[6:]}T12:00:00Z"
            event = contract_event(
                event_id=f"cdnow-{customer}-{day}-{n}",
                user_id=f"cdnow-{customer}",
                type="purchase",
                ts=ts,
                category="music",
                price=price,
                quantity=quantity,
            )
            rows.append((day, customer, n, event))
    rows.sort(key=lambda row: row[:3])
    for row in rows:
        yield row[3]


# ----------------------------------------------------------------------- synthetic
# The generator lives in `streams.data.synthetic` (it shares `streams.data.events` with the
# sources here); imported inside the functions below, as only they need it.


def synthetic_events(
    *, users: int = 2000, days: int = 120, seed: int = 7, start: str = "2026-01-01",
    drift_day: int | None = None,
) -> Iterator[dict[str, Any]]:
    """Yield a SYNTHETIC e-commerce clickstream with planted structure, sorted by ``ts``.

    Synthetic data is labelled by its ids: users ``syn-u-<n>``, events ``syn-...``, sessions
    ``syn-s-...``. Every event type of the contract occurs. Planted structure (returned by
    `synthetic_truth`, detailed in `streams.data.synthetic`): each user belongs to one of 6
    interest groups with graded preferences (3 core categories, then 4 secondary ones with
    decreasing weights); a user starts with a few of the group's categories and discovers
    the others over time at their own pace, in an order favouring the group's strong
    categories; 3% of picks explore outside the group and do not stick. ~35% of users churn
    (no events from ``churn_day`` on, after fewer sessions and worse reviews in the weeks
    before), and ~35% of churners come back on ``return_day``. Deterministic given the
    arguments.

    Parameters
    ----------
    users, days
        Population size and number of simulated days (day 0 is `start`, UTC).
    seed
        Random seed.
    start
        ISO date of day 0.
    drift_day
        From this day on the churn mechanism changes: most price-sensitive users leave,
        abruptly (see `streams.data.synthetic`); None (default): no drift.

    Examples
    --------
    >>> first = next(synthetic_events(users=5, days=10))
    >>> first["user_id"].startswith("syn-u-"), first["type"]
    (True, 'signup')
    """
    from streams.data.synthetic import generate

    return generate(users, days, seed, start, drift_day)[1]


def synthetic_truth(
    *, users: int = 2000, days: int = 120, seed: int = 7, start: str = "2026-01-01",
    drift_day: int | None = None,
) -> dict[str, dict[str, Any]]:
    """Return the planted ground truth of `synthetic_events` with the same arguments.

    Per user id:

    - ``group`` (0..5); ``group_categories``: all categories of the group, strongest first
      (core, then secondary by decreasing weight); ``core_categories``: its 3 core ones;
    - ``start_categories``: the group categories the user knows at signup;
      ``discovery_order``: the user's other group categories in the order they are
      discovered; ``discovery_pace``: the probability, per session, of discovering the next
      one (how many are discovered by a given day depends on the sessions drawn);
    - ``churn_day`` (days since `start`; the user has no events from this day until
      ``return_day``; ``None`` if the user never churns) and ``return_day`` (the day the
      user is back, with at least one session that day; ``None`` if never);
    - with ``drift_day``, for price-sensitive users only: ``price_sensitive`` (True) and
      ``abrupt`` (True when the drift makes the user leave on ``churn_day``).

    Examples
    --------
    >>> truth = synthetic_truth(users=1, days=10)["syn-u-0"]
    >>> truth["churn_day"] is None, truth["core_categories"] == truth["group_categories"][:3]
    (True, True)
    >>> sorted(truth["start_categories"] + truth["discovery_order"]) == sorted(
    ...     truth["group_categories"])
    True
    """
    from streams.data.synthetic import generate

    return {p.user_id: p.truth() for p in generate(users, days, seed, start, drift_day)[0]}


# --------------------------------------------------------------------------- files


def _number(value: str, kind: type[int | float]) -> Any:
    try:
        number = float(value)
    except ValueError:
        return value  # left as a string: validation downstream rejects it
    return int(number) if kind is int and number.is_integer() else number


def _csv_event(row: dict[str, str | None]) -> dict[str, Any]:
    event: dict[str, Any] = {k: (v if v != "" else None) for k, v in row.items() if k}
    for name, kind in (("price", float), ("quantity", int), ("rating", int)):
        if isinstance(event.get(name), str):
            event[name] = _number(event[name], kind)
    ts = event.get("ts")
    if isinstance(ts, str) and ts.isdigit():
        event["ts"] = int(ts)  # epoch seconds / milliseconds, as a JSON producer sends them
    return event


def read_events(path: str | Path) -> Iterator[dict[str, Any] | bytes]:
    """Read events from a JSON Lines or CSV file, chosen by extension.

    ``.jsonl``, ``.json`` and ``.ndjson`` are read as JSON Lines (one object per line, blank
    lines skipped). A line that is not a JSON object is yielded as its raw ``bytes`` (line
    ending removed) so a replay publishes it unchanged and the worker's dead-letter path can
    be exercised. ``.csv`` needs a header of contract field names: empty cells become
    ``None``; ``price``, ``quantity`` and ``rating`` are parsed as numbers when they parse
    and kept as strings otherwise; an all-digit ``ts`` becomes an int (epoch time).

    Raises
    ------
    ValueError
        For any other extension.

    Examples
    --------
    >>> import tempfile
    >>> target = Path(tempfile.mkdtemp()) / "events.jsonl"
    >>> write_jsonl([{"event_id": "e-1", "user_id": "u-1"}, b"not json"], target)
    2
    >>> list(read_events(target))
    [{'event_id': 'e-1', 'user_id': 'u-1'}, b'not json']
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in JSONL_SUFFIXES:
        return _read_jsonl(path)
    if suffix == ".csv":
        return _read_csv(path)
    raise ValueError(f"{path}: unsupported extension {suffix!r}; use .jsonl/.json/.ndjson/.csv")


def _read_jsonl(path: Path) -> Iterator[dict[str, Any] | bytes]:
    with open(path, "rb") as handle:
        for line in handle:
            line = line.rstrip(b"\r\n")
            if not line.strip():
                continue
            try:
                value = orjson.loads(line)
            except orjson.JSONDecodeError:
                value = None
            yield value if isinstance(value, dict) else line


def _read_csv(path: Path) -> Iterator[dict[str, Any] | bytes]:
    with open(path, newline="", encoding="utf-8") as handle:
        yield from map(_csv_event, csv.DictReader(handle))


def write_jsonl(events: Iterable[dict[str, Any] | bytes], path: str | Path) -> int:
    """Write events as JSON Lines (``bytes`` items verbatim) and return how many.

    Examples
    --------
    >>> import itertools, tempfile
    >>> write_jsonl(itertools.islice(cdnow_events(), 3), Path(tempfile.mkdtemp()) / "a.jsonl")
    3
    """
    count = 0
    with open(path, "wb") as handle:
        for event in events:
            handle.write(event if isinstance(event, bytes) else orjson.dumps(event))
            handle.write(b"\n")
            count += 1
    return count
