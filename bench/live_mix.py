"""A SYNTHETIC live traffic mix for the throughput and latency benchmarks.

Everything here is made up and says so: users are ``syn-live-u-<n>``, events
``syn-live-e-<n>``, sessions ``syn-live-s-<n>``. ``live_mix()`` returns contract events in
event-time order across all users, as a shop's collector would forward live traffic:

* a population of ``users`` users (default 100,000) with heavy-tailed activity: a session
  picks its user with a weight drawn once per user from a lognormal (a few users come back
  often, most are seen once or twice in a window);
* sessions of a few to tens of events (lognormal length, median 9, clipped to [2, 60], mean
  about 12), starting uniformly over ``span_s`` seconds of event time ending at ``end``;
  consecutive events of a session 2-60 s apart (exponential, mean 20 s);
* a realistic type mix: a session is a browse funnel (views, some searches, add / remove
  from cart, a purchase after a cart in about one session in six that carted; reviews and
  refunds rarer), a user's first session in the window opens with a ``signup`` one time in
  ten and with a ``login`` one time in three otherwise; the measured mix is printed by
  ``python -m bench.live_mix`` (``type_mix``).

Generation stops once ``events`` events exist; the sessions still running then are cut, like
a window of live traffic. With ``span_s`` of hours the events are live traffic; with a span
of months (``history()``) the same kind of sessions is history for a catch-up replay.

``collector_batches()`` groups the same events as collectors send them: per user, in the
user's event-time order, up to ``size`` events per message (drawn per message, mean about
``mean``), each message placed in the stream at the time of its last event (when the
collector flushes).
"""

from __future__ import annotations

import argparse
import heapq
import math
import random
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

from streams.data.events import CATEGORIES, contract_event

DAY = 86_400.0
SESSION_MEDIAN, SESSION_SIGMA, SESSION_MIN, SESSION_MAX = 9.0, 0.8, 2, 60
GAP_MEAN = 20.0  # seconds between events of a session
ACTIVITY_SIGMA = 1.2  # lognormal sigma of per-user activity weights

# Within a session, after the opening event: next-event probabilities of the browse funnel.
BROWSE = (("view", 0.80), ("search", 0.14), ("add_to_cart", 0.06))
CART = (("view", 0.62), ("search", 0.08), ("add_to_cart", 0.10), ("remove_from_cart", 0.06),
        ("purchase", 0.14))  # fmt: skip
# A session's second event reviews (or refunds) an earlier purchase: more often for a user
# who bought in this window, sometimes for one who bought before it.
REVIEW, REFUND = (0.30, 0.06), (0.08, 0.015)  # (bought in the window, otherwise)
_QUERIES = ("running shoes", "usb c cable", "gift for her", "wireless earbuds", "garden hose",
            "board game", "winter jacket", "coffee grinder", "phone case", "lego")  # fmt: skip
_REVIEWS = ((5, "love it"), (4, "great quality"), (3, "it is okay"), (2, "arrived late"),
            (1, "broke after a week"))  # fmt: skip


def _pick(rng: random.Random, table: tuple[tuple[str, float], ...]) -> str:
    x = rng.random()
    for kind, p in table:
        x -= p
        if x < 0:
            return kind
    return table[-1][0]


class _Ids:
    def __init__(self) -> None:
        self.event = 0
        self.session = 0

    def next_event(self) -> str:
        self.event += 1
        return f"syn-live-e-{self.event}"

    def next_session(self) -> str:
        self.session += 1
        return f"syn-live-s-{self.session}"


def _session(rng: random.Random, ids: _Ids, user: str, start: float, *, first: bool,
             bought_before: bool) -> list[dict[str, Any]]:
    """One session's events for ``user`` from ``start`` (event time, epoch seconds)."""
    length = int(min(SESSION_MAX, max(SESSION_MIN, round(
        rng.lognormvariate(math.log(SESSION_MEDIAN), SESSION_SIGMA)))))
    session_id = ids.next_session()
    home = rng.choice(CATEGORIES)
    out: list[dict[str, Any]] = []
    ts, cart = start, 0
    for i in range(length):
        if i == 0:
            r = rng.random()
            kind = ("signup" if first and r < 0.10 else "login" if r < 0.40 else "view")
        elif i == 1 and rng.random() < REVIEW[not bought_before]:
            kind = "review"
        elif i == 1 and rng.random() < REFUND[not bought_before]:
            kind = "refund"
        else:
            kind = _pick(rng, CART if cart else BROWSE)
        category = home if rng.random() < 0.7 else rng.choice(CATEGORIES)
        item = f"syn-live-i-{category}-{rng.randrange(400)}"
        price = round(rng.lognormvariate(math.log(35.0), 0.8), 2)
        fields: dict[str, Any] = {"event_id": ids.next_event(), "user_id": user, "type": kind,
                                  "ts": round(ts, 3), "session_id": session_id}
        if kind in ("view", "add_to_cart", "remove_from_cart", "purchase", "refund"):
            fields.update(item_id=item, category=category, price=price)
        if kind == "add_to_cart":
            cart += 1
        elif kind == "remove_from_cart":
            cart = max(0, cart - 1)
        elif kind == "purchase":
            fields["quantity"] = 1 + (rng.random() < 0.15)
            cart = 0
        elif kind == "search":
            fields["query"] = rng.choice(_QUERIES)
        elif kind == "review":
            rating, text = rng.choice(_REVIEWS)
            fields.update(item_id=item, category=category, rating=rating, text=text)
        out.append(contract_event(**fields))
        ts += rng.expovariate(1.0 / GAP_MEAN) + 2.0
    return out


def _sessions(users: int, seed: int) -> Iterator[list[dict[str, Any]]]:
    """Endless sessions, each starting at event time 0 (the caller shifts them)."""
    rng = random.Random(f"live-mix-{seed}")
    cumulative, total = [], 0.0
    for _ in range(users):
        total += rng.lognormvariate(0.0, ACTIVITY_SIGMA)
        cumulative.append(total)
    ids, seen, bought = _Ids(), set(), set()
    while True:
        n = rng.choices(range(users), cum_weights=cumulative)[0]
        user = f"syn-live-u-{n}"
        first = user not in seen
        seen.add(user)
        events = _session(rng, ids, user, 0.0, first=first, bought_before=user in bought)
        if any(e["type"] == "purchase" for e in events):
            bought.add(user)
        yield events


def live_mix(users: int = 100_000, events: int = 100_000, *, span_s: float = 3600.0,
             end: float | None = None, seed: int = 7) -> list[dict[str, Any]]:
    """``events`` SYNTHETIC events of ``users`` users over ``span_s`` s ending at ``end``.

    Event-time ordered across users (ties keep generation order). ``end`` defaults to now,
    so the events are live traffic for a worker whose clock is the wall clock.
    """
    end = time.time() if end is None else end
    # Session starts: a Poisson process, rescaled so that the last start falls at ``end``.
    sessions: list[list[dict[str, Any]]] = []
    starts: list[float] = []
    count, t = 0, 0.0
    source = _sessions(users, seed)
    rng = random.Random(f"live-mix-starts-{seed}")
    while count < events:
        session = next(source)
        t += rng.expovariate(1.0)
        sessions.append(session)
        starts.append(t)
        count += len(session)
    scale = span_s / t
    for start, session in zip(starts, sessions, strict=True):
        offset = end - span_s + start * scale
        for e in session:
            e["ts"] = round(e["ts"] + offset, 3)
    merged = list(heapq.merge(*sessions, key=lambda e: e["ts"]))
    return merged[:events]


def history(users: int = 100_000, events: int = 100_000, *, days: float = 90.0,
            end: float | None = None, seed: int = 7) -> list[dict[str, Any]]:
    """The same kind of sessions spread over ``days`` of past event time (catch-up)."""
    return live_mix(users, events, span_s=days * DAY, end=end, seed=seed)


def collector_batches(events: list[dict[str, Any]], *, mean: int = 20, seed: int = 7
                      ) -> list[list[dict[str, Any]]]:
    """The events as per-user collector batches (JSON arrays), in the order of their flush.

    Each message holds up to ``size`` consecutive events of one user, ``size`` drawn per
    message uniformly in ``[mean // 2, 3 * mean // 2]``; a user's last message holds what is
    left. Messages are ordered by the time of their last event.
    """
    rng = random.Random(f"live-mix-batches-{seed}")
    per_user: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        per_user[e["user_id"]].append(e)
    messages: list[list[dict[str, Any]]] = []
    for user_events in per_user.values():
        i = 0
        while i < len(user_events):
            size = rng.randint(max(1, mean // 2), max(1, 3 * mean // 2))
            messages.append(user_events[i:i + size])
            i += size
    messages.sort(key=lambda m: (m[-1]["ts"], m[-1]["event_id"]))
    return messages


def type_mix(events: list[dict[str, Any]]) -> dict[str, float]:
    """Share of each event type."""
    counts = Counter(e["type"] for e in events)
    return {k: counts[k] / len(events) for k, _ in counts.most_common()}


def describe(events: list[dict[str, Any]]) -> str:
    """One line: events, distinct users, sessions, mean session length, type mix."""
    sessions = Counter(e["session_id"] for e in events)
    mix = ", ".join(f"{k} {v:.1%}" for k, v in type_mix(events).items())
    return (f"{len(events):,} events, {len({e['user_id'] for e in events}):,} distinct users, "
            f"{len(sessions):,} sessions (mean {len(events) / max(1, len(sessions)):.1f} "
            f"events); {mix}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print a SYNTHETIC live mix's shape.")
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--batch-mean", type=int, default=20)
    args = parser.parse_args(argv)
    started = time.perf_counter()
    events = live_mix(args.users, args.events)
    print(f"SYNTHETIC live mix in {time.perf_counter() - started:.1f}s: {describe(events)}")
    batches = collector_batches(events, mean=args.batch_mean)
    print(f"collector batches: {len(batches):,} messages, "
          f"mean {len(events) / len(batches):.1f} events per message")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
