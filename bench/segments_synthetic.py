"""SYNTHETIC benchmark of interest segments and recommendations (one pass, event time).

Replays ``streams.data.datasets.synthetic_events`` through ``parse_event`` + ``apply_event``. Before
the split (70% of the days) every ``--learn-every`` applied events of a user, the user's
affinity vector teaches both the ``InterestModel`` and the ``GlobalPopularity`` baseline: the
same vectors, in the same order, forgotten at the same pace (the baseline's half-life is the
one of the model's own global fallback, ``halflife * k``). Nothing is learned after the split.

At the split each user seen so far gets ``--top`` recommendations from each recommender,
restricted to categories the user has NOT touched before the split (same exclusion for both).
A hit is a recommended category the user interacts with (any event with that category) after
the split. Evaluated users: those who touched a category before the split and touch one after
it - a condition that does not depend on the recommendations. Reported per recommender: hit
rate (users with >= 1 hit / users evaluated) and precision@k (hits / (k * users evaluated)),
plus the ratio of hit rates, how many evaluated users touch any new category at all (the
ceiling of the hit rate), and cluster purity against the planted groups (``synthetic_truth``)
with every user assigned at the end. Two references read the planted truth (they are not
recommenders): one knows each user's group (untouched group categories by planted weight, then
popularity), one the user's hidden discovery order (the next undiscovered category, then
popularity); they show how much of the gap to popularity the data leaves to any recommender.
A third reference is the best a "users who touched A and B next touched C" model could learn:
the untouched group categories ranked by how often the planted law makes each one the next
discovery of a user of the same group who has touched the same group categories (counted over
``--law-users`` other simulated users, seed ``seed + 1000``), then popularity.
The lifecycle / value segments of all users are evaluated at the final watermark.

Run: ``python -m bench.segments_synthetic [--users 2000 --days 120 --seed 7]``.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter, defaultdict
from typing import Any

from online_models.contract import Event, parse_event, parse_ts
from online_models.interest import GlobalPopularity, InterestModel
from online_models.lifecycle import LifecyclePolicy
from online_models.profile import DAY, ProfileConfig, UserState, apply_event
from online_models.rfm import RFMScorer, rfm_inputs
from online_models.segments import evaluate_segments
from streams.data.datasets import synthetic_events, synthetic_truth
from streams.data.synthetic import group_weights

START = "2026-01-01"


def _purity(assigned: dict[str, int | None], truth: dict[str, dict[str, Any]]) -> float:
    by_cluster: dict[int, Counter[object]] = defaultdict(Counter)
    for user, cluster in assigned.items():
        if cluster is not None:
            by_cluster[cluster][truth[user]["group"]] += 1
    total = sum(sum(c.values()) for c in by_cluster.values())
    return sum(c.most_common(1)[0][1] for c in by_cluster.values()) / max(total, 1)


def _hits(
    recs: dict[str, list[str]], new: dict[str, set[str]], users: list[str], k: int
) -> tuple[float, float]:
    """(hit rate, precision@k) of ``recs`` over ``users``; ``new``: categories first touched
    after the split."""
    hits = [len(set(recs[u]) & new[u]) for u in users]
    n = max(len(users), 1)
    return sum(1 for h in hits if h) / n, sum(hits) / (k * n)


Law = dict[tuple[int, frozenset[str]], Counter[str]]


def _discovery_law(users: int, days: int, seed: int) -> Law:
    """How often each group category is the next discovery, per (group, categories known)."""
    law: Law = defaultdict(Counter)
    for plan in synthetic_truth(users=users, days=days, seed=seed, start=START).values():
        sequence = plan["start_categories"] + plan["discovery_order"]
        for i in range(len(plan["start_categories"]), len(sequence)):
            law[(plan["group"], frozenset(sequence[:i]))][sequence[i]] += 1
    return law


def _oracles(
    users: list[str], touched: dict[str, set[str]], truth: dict[str, dict[str, Any]],
    baseline: GlobalPopularity, k: int, law: Law,
) -> tuple[dict[str, list[str]], dict[str, list[str]], dict[str, list[str]]]:
    """Two references that read the planted truth, with the baseline's exclusion rule.

    ``group``: the user's untouched group categories by planted group weight (what a perfect
    clustering of the group could know), then popularity. ``order``: the next category of the
    user's own hidden discovery order (drawn per user, not observable), then popularity.
    ``law``: the user's untouched group categories by how often ``law`` makes each the next
    discovery given the group categories the user touched (ties by group weight), then
    popularity. ``baseline`` has learned nothing since the split, so it is the one of the split.
    """
    group, order, law_next = {}, {}, {}
    for u in users:
        fill = baseline.recommend({}, k + 20, exclude=touched[u])
        weights = group_weights(truth[u]["group"])
        ranked = [c for c in sorted(weights, key=lambda c: -weights[c]) if c not in touched[u]]
        group[u] = (ranked + [c for c in fill if c not in ranked])[:k]
        nxt = [c for c in truth[u]["discovery_order"] if c not in touched[u]][:1]
        order[u] = (nxt + [c for c in fill if c not in nxt])[:k]
        known = law.get((truth[u]["group"], frozenset(touched[u] & set(weights))), Counter())
        likely = sorted(ranked, key=lambda c: (-known[c], -weights[c]))
        law_next[u] = (likely + [c for c in fill if c not in likely])[:k]
    return group, order, law_next


def run(
    *, users: int, days: int, seed: int, k: int, learn_every: int, top: int,
    law_users: int = 20000,
) -> None:
    """Run the benchmark once and print its report.

    Examples
    --------
    >>> run(users=30, days=10, seed=1, k=2, learn_every=5, top=3, law_users=30)
    ... # doctest: +ELLIPSIS
    === SYNTHETIC DATA ...
    """
    started = time.perf_counter()
    config = ProfileConfig()
    states: dict[str, UserState] = defaultdict(UserState)
    model = InterestModel(k=k, seed=seed)
    baseline = GlobalPopularity(halflife=model.halflife * k)
    touched: dict[str, set[str]] = defaultdict(set)
    later: dict[str, set[str]] = defaultdict(set)
    recs_model: dict[str, list[str]] = {}
    recs_base: dict[str, list[str]] = {}
    split = parse_ts(f"{START}T00:00:00Z") + 0.7 * days * DAY
    watermark, applied, recommended = 0.0, 0, False
    for raw in synthetic_events(users=users, days=days, seed=seed, start=START):
        event = parse_event(raw, now=4e9)
        if not isinstance(event, Event):
            continue
        if event.ts >= split and not recommended:
            recommended = True
            for user in touched:
                affinity = states[user].affinity
                recs_model[user] = model.recommend(affinity, top, exclude=touched[user])
                recs_base[user] = baseline.recommend(affinity, top, exclude=touched[user])
        state = states[event.user_id]
        if not apply_event(state, event, config):
            continue
        applied += 1
        watermark = max(watermark, event.ts)
        if event.category:
            (touched if event.ts < split else later)[event.user_id].add(event.category)
        if event.ts < split and state.events % learn_every == 0:
            model.learn_one(state.affinity)
            baseline.learn_one(state.affinity)
    assigned = {u: model.assign(s.affinity) for u, s in states.items()}
    truth = synthetic_truth(users=users, days=days, seed=seed, start=START)
    evaluated = sorted(u for u in recs_model if later.get(u))
    new = {u: later[u] - touched[u] for u in evaluated}
    hr_m, prec_m = _hits(recs_model, new, evaluated, top)
    hr_b, prec_b = _hits(recs_base, new, evaluated, top)
    ceiling = sum(1 for u in evaluated if new[u]) / max(len(evaluated), 1)
    law = _discovery_law(law_users, days, seed + 1000)
    group_oracle, order_oracle, law_oracle = _oracles(
        evaluated, touched, truth, baseline, top, law
    )
    hr_g, _ = _hits(group_oracle, new, evaluated, top)
    hr_o, _ = _hits(order_oracle, new, evaluated, top)
    hr_l, _ = _hits(law_oracle, new, evaluated, top)
    in_group = sum(len(new[u] & set(truth[u]["group_categories"])) for u in evaluated)
    outside = sum(len(new[u]) for u in evaluated) - in_group

    rfm = RFMScorer()
    for state in states.values():
        inputs = rfm_inputs(state, watermark)
        if inputs is not None:
            rfm.learn_one(*inputs)
    policy, dims = LifecyclePolicy(), Counter[tuple[str, str]]()
    for user, state in states.items():
        evaluate_segments(user, state, watermark, lifecycle_policy=policy, rfm=rfm, interest=model)
        dims.update((d, v) for d, v in state.segments.items() if d != "interest")
    elapsed = time.perf_counter() - started

    print("=== SYNTHETIC DATA (streams.data.datasets.synthetic_events) "
          "- not a real-world result ===")
    print(
        f"users={users} days={days} seed={seed} events applied={applied:,} "
        f"k={k} learn_every={learn_every} time={elapsed:.1f}s"
    )
    print(f"interest clusters (k={k}) purity vs 6 planted groups: {_purity(assigned, truth):.3f}")
    for c in range(len(model.centres)):
        size = sum(1 for v in assigned.values() if v == c)
        print(f"  cluster {c}: {model.label(c, top=4):40s} users={size}")
    print(
        f"recommend k={top} untouched categories: learn on days [0, {0.7 * days:g}), hits on "
        f"the rest; {len(evaluated)} users evaluated (of {len(recs_model)} recommended to), "
        f"{ceiling:.0%} of them touch any new category"
    )
    print(f"  InterestModel     hit rate {hr_m:.3f}  precision@{top} {prec_m:.3f}")
    print(f"  GlobalPopularity  hit rate {hr_b:.3f}  precision@{top} {prec_b:.3f}")
    ratio = hr_m / max(hr_b, 1e-9)
    print(f"  ratio (hit rate) {ratio:.2f}  (target > 1.5: {'met' if ratio > 1.5 else 'NOT met'})")
    print("  references that read the planted truth (not recommenders, for scale):")
    print(f"    knows each user's group    hit rate {hr_g:.3f}  ratio {hr_g / max(hr_b, 1e-9):.2f}"
          "  (untouched group categories by planted weight, then popularity)")
    print(f"    knows group + touched set  hit rate {hr_l:.3f}  ratio {hr_l / max(hr_b, 1e-9):.2f}"
          "  (untouched group categories by the planted next-discovery law, then popularity)")
    print(f"    knows the hidden order     hit rate {hr_o:.3f}  ratio {hr_o / max(hr_b, 1e-9):.2f}"
          "  (the user's next undiscovered category, then popularity)")
    print(
        f"  new categories touched after the split: {in_group} of the user's planted group, "
        f"{outside} outside it (exploration)"
    )
    for dim in ("lifecycle", "value"):
        counts = {v: n for (d, v), n in sorted(dims.items()) if d == dim}
        print(f"{dim} segments at the final watermark: {counts}")


def main(argv: list[str] | None = None) -> None:
    """Parse command-line arguments (default ``sys.argv``) and run.

    Examples
    --------
    >>> main(["--users", "20", "--days", "8", "--k", "2"])  # doctest: +ELLIPSIS
    === SYNTHETIC DATA ...
    """
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--learn-every", type=int, default=20)
    parser.add_argument("--top", type=int, default=3)
    parser.add_argument("--law-users", type=int, default=20000)
    args = parser.parse_args(argv)
    run(
        users=args.users,
        days=args.days,
        seed=args.seed,
        k=args.k,
        learn_every=args.learn_every,
        top=args.top,
        law_users=args.law_users,
    )


if __name__ == "__main__":
    main()
