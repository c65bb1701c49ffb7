"""The SYNTHETIC clickstream behind `streams.data.datasets.synthetic_events` / `synthetic_truth`.

Everything here is made up; ids say so (``syn-u-<n>`` users, ``syn-...`` events,
``syn-s-...`` sessions). Use `streams.data.datasets.synthetic_events` and `synthetic_truth`, which
share `generate`, so the truth always matches the events.

Planted structure
-----------------
Interest groups
    Each user belongs to one of 6 groups (`GROUPS`). A group has graded preferences over the
    20 `CATEGORIES`: 3 *core* categories (weight 1.0 each) and 4 *secondary* ones with
    decreasing weights (`SECONDARY_WEIGHTS`: 0.5, 0.35, 0.25, 0.15) - what similar users
    come to like besides the core. Groups overlap as shops do (``bags`` is core for fashion
    and secondary for beauty, ``headphones`` core for tech and for gamers, ...). A user's
    personal weight of each group category is the group weight times a factor drawn once
    from ``[0.6, 1.4]``.
Discovery
    A user does not know the whole group at signup: they start with 2-3 of its core
    categories and, one time in three, one secondary category (``start_categories``). The
    other group categories are discovered one at a time, in an order drawn once per user by
    personal weight without replacement (``discovery_order``: a missing core category and the
    strong secondaries tend to come first). At the start of each session the user discovers
    the next one with probability ``discovery_pace`` (per user, uniform in [0.02, 0.15]),
    viewing it first in that session; from then on it is browsed like the others. Users
    browse only known categories, by personal weight.
Exploration
    3% of picks (`EXPLORE`) are a uniform draw among the 13 categories outside the user's
    group; they do not stick.
Lifecycle and sentiment
    Signups are spread over the first third of the timeline, 0.1-0.6 sessions a day. ~35% of
    users churn (``churn_day``: no events from that day on, after fewer sessions and worse
    reviews in the two/three weeks before), and ~35% of churners come back on
    ``return_day`` with a session that day. Review texts follow their rating.

Drift (``drift_day``, off by default)
    With ``drift_day`` set, the churn mechanism changes mid-stream: 30% of users are
    *price-sensitive* (drawn from a third RNG, ``drift-<seed>``, so the other plans stay as
    they are): they only ever buy items under `CHEAP_PRICE` and none of them churns before
    ``drift_day`` (a loyal cohort). From ``drift_day`` on (a price rise, say) 70% of them
    leave, each on a day drawn in ``[drift_day, drift_day + 30)``, abruptly (no fading
    sessions, no bad reviews before) and for good; the other users churn as above. A model
    that learned "cheap baskets are loyal" and "fewer sessions and bad reviews mean churn"
    is now wrong about them.

Plans (the truth) come from one RNG seeded by ``plans-<seed>``, events from another
(``events-<seed>``), so events are a deterministic function of the arguments and cannot
shift the truth.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from streams.data.events import CATEGORIES, contract_event

# Per group: core categories (strongest), then secondary ones by decreasing weight.
GROUPS: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("shoes", "bags", "jackets"), ("dresses", "jewelry", "watches", "sports")),  # fashion
    (("jewelry", "watches", "beauty"), ("bags", "dresses", "shoes", "phones")),  # beauty/luxury
    (("phones", "laptops", "headphones"), ("cameras", "watches", "consoles", "games")),  # tech
    (("games", "consoles", "headphones"), ("comics", "laptops", "toys", "phones")),  # gamers
    (("books", "comics", "toys"), ("games", "kitchen", "sports", "beauty")),  # family/readers
    (("garden", "tools", "kitchen"), ("sports", "books", "cameras", "shoes")),  # home/garden
)
CORE_WEIGHT = 1.0
SECONDARY_WEIGHTS = (0.5, 0.35, 0.25, 0.15)
EXPLORE = 0.03
PACE = (0.02, 0.15)
CHEAP_PRICE = 60.0  # price-sensitive users (drift mode) buy only below this
PRICE_SENSITIVE, DRIFT_LEAVE, DRIFT_DAYS = 0.3, 0.7, 30

_POSITIVE = ("love it", "great quality", "works perfectly", "fast delivery",
             "excellent value", "highly recommend", "really happy with it")  # fmt: skip
_NEGATIVE = ("broke after a week", "terrible quality", "waste of money", "arrived late",
             "very disappointed", "does not work", "would not buy again")  # fmt: skip
_NEUTRAL = ("it is okay", "does the job", "average quality", "as described")
_QUERY_WORDS = ("cheap", "best", "new", "red", "black", "sale", "gift", "small")


def group_weights(group: int) -> dict[str, float]:
    """The graded preferences of a group, strongest first.

    Examples
    --------
    >>> list(group_weights(2).items())[2:5]
    [('headphones', 1.0), ('cameras', 0.5), ('watches', 0.35)]
    """
    core, secondary = GROUPS[group]
    return {
        **dict.fromkeys(core, CORE_WEIGHT),
        **dict(zip(secondary, SECONDARY_WEIGHTS, strict=True)),
    }


@dataclass(frozen=True)
class UserPlan:
    """One user's planted truth (see the module docstring)."""

    user_id: str
    group: int
    signup_day: int
    churn_day: int | None
    return_day: int | None
    sessions_per_day: float
    buy_prob: float
    weights: dict[str, float]  # personal weight of every group category
    start: tuple[str, ...]  # categories known at signup
    order: tuple[str, ...]  # the other group categories, in discovery order
    pace: float  # probability of discovering the next category, per session
    price_sensitive: bool = False  # drift mode only
    abrupt: bool = False  # leaves without fading (the drift's churners)

    def active(self, day: int) -> bool:
        if day < self.signup_day:
            return False
        if self.churn_day is None or day < self.churn_day:
            return True
        return self.return_day is not None and day >= self.return_day

    def truth(self) -> dict[str, Any]:
        core, _ = GROUPS[self.group]
        return {
            "group": self.group,
            "group_categories": list(group_weights(self.group)),
            "core_categories": list(core),
            "start_categories": list(self.start),
            "discovery_order": list(self.order),
            "discovery_pace": self.pace,
            "churn_day": self.churn_day,
            "return_day": self.return_day,
            **({"price_sensitive": True, "abrupt": self.abrupt} if self.price_sensitive
               else {}),
        }


def _weighted_order(rng: random.Random, weights: dict[str, float]) -> list[str]:
    """Categories drawn by weight without replacement."""
    left, order = dict(weights), []
    while left:
        cat = rng.choices(list(left), list(left.values()))[0]
        order.append(cat)
        del left[cat]
    return order


def plans(users: int, days: int, seed: int, drift_day: int | None = None) -> list[UserPlan]:
    """The planted ground truth; drawn first, from its own RNG, so events cannot drift."""
    if users < 1 or days < 1:
        raise ValueError(f"users and days must be >= 1, got users={users}, days={days}")
    rng = random.Random(f"plans-{seed}")
    out = []
    for n in range(users):
        signup = rng.randrange(max(1, days // 3))
        churn = ret = None
        if rng.random() < 0.35 and days - signup > 21:
            churn = rng.randrange(signup + 7, days - 7)
            if rng.random() < 0.35 and days - churn > 21:
                ret = rng.randrange(churn + 14, days)
        group, rate, buy = rng.randrange(len(GROUPS)), rng.uniform(0.1, 0.6), rng.random()
        core, secondary = GROUPS[group]
        weights = {c: w * rng.uniform(0.6, 1.4) for c, w in group_weights(group).items()}
        start = rng.sample(core, rng.randint(2, 3))
        if rng.random() < 1 / 3:
            start += _weighted_order(rng, {c: weights[c] for c in secondary})[:1]
        order = _weighted_order(rng, {c: w for c, w in weights.items() if c not in start})
        plan = UserPlan(
            user_id=f"syn-u-{n}",
            group=group,
            signup_day=signup,
            churn_day=churn,
            return_day=ret,
            sessions_per_day=rate,
            buy_prob=0.05 + buy * 0.3,
            weights=weights,
            start=tuple(start),
            order=tuple(order),
            pace=rng.uniform(*PACE),
        )
        out.append(plan)
    return out if drift_day is None else _drift(out, days, seed, drift_day)


def _drift(user_plans: list[UserPlan], days: int, seed: int, drift_day: int) -> list[UserPlan]:
    """The drift mode's plans: price-sensitive users, most of whom leave from ``drift_day``."""
    from dataclasses import replace

    if not 0 < drift_day < days:
        raise ValueError(f"drift_day must be in (0, {days}), got {drift_day}")
    rng = random.Random(f"drift-{seed}")
    out = []
    for plan in user_plans:
        sensitive, leaves, day = (rng.random() < PRICE_SENSITIVE, rng.random() < DRIFT_LEAVE,
                                  drift_day + rng.randrange(DRIFT_DAYS))
        if not sensitive:
            out.append(plan)
            continue
        # Loyal until the drift (the cohort a model learns to trust), then most of them leave.
        abrupt = leaves and plan.signup_day < day < days
        churn_day = day if abrupt else None
        return_day = None
        out.append(replace(plan, price_sensitive=True, churn_day=churn_day,
                           return_day=return_day, abrupt=abrupt))
    return out


def _price(category: str, sku: int) -> float:
    return round(5 + (CATEGORIES.index(category) * 37 + sku * 13) % 200 + 0.99, 2)


def _review_text(rng: random.Random, rating: int) -> str:
    pool = _POSITIVE if rating >= 4 else _NEGATIVE if rating <= 2 else _NEUTRAL
    return ", ".join(rng.sample(pool, 2)).capitalize() + "."


class _Session:
    """Builds the events of one user session at increasing timestamps."""

    def __init__(self, rng: random.Random, plan: UserPlan, t: datetime, sid: str) -> None:
        self.rng, self.plan, self.t, self.sid = rng, plan, t, sid
        self.events: list[dict[str, Any]] = []
        self.seq = 0

    def emit(self, kind: str, **fields: Any) -> None:
        self.t += timedelta(seconds=self.rng.randint(5, 90))
        self.seq += 1
        self.events.append(
            contract_event(
                event_id=f"syn-{self.sid[6:]}-{self.seq}",
                user_id=self.plan.user_id,
                type=kind,
                ts=self.t.strftime("%Y-%m-%dT%H:%M:%SZ"),
                session_id=self.sid,
                **fields,
            )
        )


def _picks(rng: random.Random, plan: UserPlan, known: list[str]) -> list[str]:
    """The categories one session browses; may discover the next group category first."""
    picks = []
    if len(known) < len(plan.weights) and rng.random() < plan.pace:
        known.append(plan.order[len(known) - len(plan.start)])
        picks.append(known[-1])
    outside = [c for c in CATEGORIES if c not in plan.weights]
    weights = [plan.weights[c] for c in known]
    for _ in range(rng.randint(1, 8) - len(picks)):
        explore = rng.random() < EXPLORE
        picks.append(rng.choice(outside) if explore else rng.choices(known, weights)[0])
    return picks


def _session(
    rng: random.Random,
    plan: UserPlan,
    day: int,
    start: datetime,
    n: int,
    known: list[str],
    bought: list[dict[str, Any]],
) -> list[dict[str, Any]]:
    t = start + timedelta(days=day, seconds=rng.randrange(22 * 3600))
    s = _Session(rng, plan, t, f"syn-s-{plan.user_id[6:]}-{n}")
    if n == 0:
        s.emit("signup")
    elif rng.random() < 0.7:
        s.emit("login")
    cart: list[dict[str, Any]] = []
    for cat in _picks(rng, plan, known):
        if rng.random() < 0.3:
            s.emit("search", category=cat, query=f"{rng.choice(_QUERY_WORDS)} {cat}")
        sku = rng.randrange(40)
        if plan.price_sensitive:  # the same draw, mapped onto the cheap items
            cheap = [k for k in range(40) if _price(cat, k) < CHEAP_PRICE]
            sku = cheap[sku % len(cheap)]
        item = {
            "item_id": f"sku-{cat}-{sku}",
            "category": cat,
            "price": _price(cat, sku),
        }
        s.emit("view", **item)
        if rng.random() < 0.25:
            s.emit("add_to_cart", quantity=1, **item)
            cart.append(item)
    if cart and rng.random() < 0.2:
        s.emit("remove_from_cart", quantity=1, **cart.pop(rng.randrange(len(cart))))
    if cart and rng.random() < plan.buy_prob * 2:
        for item in cart:
            s.emit("purchase", quantity=rng.choice((1, 1, 1, 2)), **item)
            bought.append(item)
    elif bought and rng.random() < 0.03:
        s.emit("refund", quantity=1, **bought.pop(rng.randrange(len(bought))))
    if bought and rng.random() < 0.15:
        # Users near their churn day are unhappier: sentiment is a planted churn signal.
        near_churn = (plan.churn_day is not None and not plan.abrupt
                      and 0 <= plan.churn_day - day <= 21)
        rating = rng.choice((1, 2, 2, 3, 4) if near_churn else (2, 3, 4, 4, 5, 5))
        item = rng.choice(bought)
        text = _review_text(rng, rating)
        s.emit(
            "review", item_id=item["item_id"], category=item["category"], rating=rating, text=text
        )
    return s.events


def generate(
    users: int, days: int, seed: int, start: str, drift_day: int | None = None
) -> tuple[list[UserPlan], Iterator[dict[str, Any]]]:
    """The plans (drawn now) and a lazy, time-sorted iterator of their events."""
    user_plans = plans(users, days, seed, drift_day)
    origin = datetime.combine(date.fromisoformat(start), datetime.min.time(), UTC)

    def events() -> Iterator[dict[str, Any]]:
        rng = random.Random(f"events-{seed}")
        sessions = [0] * users
        known = [list(p.start) for p in user_plans]
        bought: list[list[dict[str, Any]]] = [[] for _ in range(users)]
        for day in range(days):
            today: list[dict[str, Any]] = []
            for n, plan in enumerate(user_plans):
                if not plan.active(day):
                    continue
                fading = (plan.churn_day is not None and not plan.abrupt
                          and 0 <= plan.churn_day - day <= 14)
                rate = plan.sessions_per_day * (0.4 if fading else 1.0)
                count = 1 if day in (plan.signup_day, plan.return_day) else int(rate + rng.random())
                for _ in range(count):
                    today += _session(rng, plan, day, origin, sessions[n], known[n], bought[n])
                    sessions[n] += 1
            today.sort(key=lambda e: (e["ts"], e["user_id"], e["event_id"]))
            yield from today

    return user_plans, events()
