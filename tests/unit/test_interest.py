"""Unit tests for `online_models.interest`: clustering, labels, recommendations, pickling."""

from __future__ import annotations

import random

import pytest

from online_models.interest import GlobalPopularity, InterestModel, normalize

pytestmark = pytest.mark.unit
GROUPS = (("shoes", "bags", "jackets"), ("phones", "laptops", "cameras"), ("garden", "tools"))


def _user(rng: random.Random, group: int, drop: int = 0) -> dict[str, float]:
    cats = GROUPS[group][: len(GROUPS[group]) - drop]
    return {c: rng.uniform(1, 5) for c in cats}


def _trained(n: int = 600) -> InterestModel:
    rng, model = random.Random(0), InterestModel(k=3, init_size=60)
    for i in range(n):
        model.learn_one(_user(rng, i % 3))
    return model


def test_interest__works_before_learning() -> None:
    model = InterestModel()
    assert model.assign({"shoes": 1.0}) is None
    assert model.recommend({"shoes": 1.0}) == []
    assert GlobalPopularity().recommend({}) == []
    with pytest.raises(ValueError):
        model.label(0)


def test_interest__empty_affinity_has_no_cluster() -> None:
    model = _trained()
    assert model.assign({}) is None
    assert model.assign({"shoes": 0.0}) is None


def test_interest__separates_planted_groups() -> None:
    model, rng = _trained(), random.Random(1)
    clusters = [{model.assign(_user(rng, g)) for _ in range(50)} for g in range(3)]
    assert all(len(c) == 1 for c in clusters)
    assert len(set.union(*clusters)) == 3


def test_interest__labels_name_top_categories() -> None:
    model = _trained()
    cluster = model.assign({"phones": 1.0, "laptops": 1.0})
    assert cluster is not None
    assert set(model.label(cluster, top=3).split("+")) == set(GROUPS[1])


def test_interest__recommends_untouched_categories_of_similar_users() -> None:
    model = _trained()
    assert model.recommend({"shoes": 2.0, "bags": 1.0}, k=1) == ["jackets"]
    picks = model.recommend({"shoes": 2.0}, k=3)
    assert set(picks[:2]) == {"bags", "jackets"} and "shoes" not in picks
    assert "jackets" not in model.recommend({"shoes": 1.0}, exclude=["jackets"])
    assert model.recommend({"shoes": 1.0}, k=0) == []


def test_interest__global_baseline_ranks_by_popularity() -> None:
    pop = GlobalPopularity()
    for aff in ({"a": 1.0}, {"a": 1.0, "b": 1.0}, {"c": 1.0}, {"a": 2.0}):
        pop.learn_one(aff)
    assert pop.recommend({}, k=2) == ["a", "c"]
    assert pop.recommend({"a": 1.0}, k=5) == ["c", "b"]


def test_interest__tolerates_new_categories() -> None:
    model = _trained()
    assert model.assign({"never-seen": 1.0}) in range(3)
    model.learn_one({"never-seen": 1.0, "shoes": 1.0})
    assert isinstance(model.recommend({"another-new": 3.0}), list)


def test_interest__assign_is_read_only_and_deterministic() -> None:
    model = _trained()
    before = model.to_data()
    model.assign({"brand-new": 1.0, "shoes": 2.0})
    model.recommend({"brand-new": 1.0})
    assert model.to_data() == before
    assert _trained().to_data() == before


def test_interest__normalize_ignores_non_positive_and_nan() -> None:
    assert normalize({"a": 3.0, "b": -1.0, "c": float("nan"), "d": 4.0}) == {"a": 0.6, "d": 0.8}
    assert normalize({}) == {}


def test_interest__misuse_raises_value_error() -> None:
    for kwargs in ({"k": 0}, {"k": 5, "init_size": 2}, {"min_rate": 0.0}, {"n_init": 0}):
        with pytest.raises(ValueError):
            InterestModel(**kwargs)
    with pytest.raises(ValueError):
        _trained().recommend({}, k=-1)
    with pytest.raises(ValueError):
        GlobalPopularity(halflife=0)


def test_interest__baseline_matches_the_models_own_fallback() -> None:
    # bench.segments_synthetic compares against GlobalPopularity(halflife=halflife * k) fed
    # the same vectors: before clustering, the model must recommend exactly what it does.
    rng = random.Random(2)
    model = InterestModel(k=3, init_size=10_000)  # never seeded: global fallback only
    baseline = GlobalPopularity(halflife=model.halflife * model.k)
    for i in range(300):
        vector = _user(rng, i % 3, drop=i % 2)
        model.learn_one(vector)
        baseline.learn_one(vector)
    for probe, exclude in (({}, ()), ({"shoes": 1.0}, ("garden",)), ({"phones": 2.0}, ())):
        assert model.recommend(probe, k=4, exclude=exclude) == baseline.recommend(
            probe, k=4, exclude=exclude
        )
        assert len(model.recommend(probe, k=4, exclude=exclude)) == 4


def test_interest__fast_nearest_centre_is_the_exact_one() -> None:
    model, rng = _trained(), random.Random(1)
    cats = [c for group in GROUPS for c in group] + ["new-category"]
    model.centres.append(dict(model.centres[0]))  # an exact tie: the first index must win
    for _ in range(2000):
        x = normalize({c: rng.uniform(0, 3) for c in rng.sample(cats, rng.randint(1, 5))})
        if x:
            assert model._nearest_centre(x) == InterestModel._nearest(x, model.centres)
    assert model._nearest_centre(normalize(dict(model.centres[0]))) == 0


def test_interest__cached_labels_follow_learning() -> None:
    model = InterestModel(k=1, init_size=1)
    model.learn_one({"shoes": 3.0, "bags": 2.0})
    assert model.label(0) == "shoes+bags"
    for _ in range(50):
        model.learn_one({"toys": 5.0, "games": 4.0})
    assert model.label(0) == "toys+games"
    assert InterestModel.from_data(model.to_data()).label(0) == "toys+games"


def _kmeans_by_definition(model: InterestModel, rng: random.Random) -> tuple[float, list]:
    """k-means++ and Lloyd as defined: every point's distance to every centre, each time."""
    from online_models.interest import _mean, _sq_distance

    points = model._buffer
    centres = [rng.choice(points)]
    while len(centres) < model.k:
        d = [min(_sq_distance(p, c) for c in centres) for p in points]
        centres.append(rng.choices(points, d)[0] if sum(d) > 0 else rng.choice(points))
    for _ in range(15):
        groups: list[list] = [[] for _ in centres]
        for p in points:
            groups[min(range(len(centres)), key=lambda i: _sq_distance(p, centres[i]))].append(p)
        centres = [_mean(g) if g else c for g, c in zip(groups, centres, strict=True)]
    inertia = sum(min(_sq_distance(p, c) for c in centres) for p in points)
    return inertia, centres


@pytest.mark.parametrize("seed", range(12))
def test_kmeans_seeding_equals_its_definition(seed: int) -> None:
    """The seeding's shortcuts (distances to the nearest centre kept up to date, the centre
    index) give exactly the centres and inertia of the plain definition."""
    rng = random.Random(seed)
    cats = [f"c{i}" for i in range(rng.choice([3, 12, 40]))]
    k = rng.choice([1, 2, 5, 8])
    model = InterestModel(k=k, init_size=max(k, 60))
    model._buffer = [normalize({c: rng.choice([1.0, 5 * rng.random()])
                                for c in rng.sample(cats, rng.randint(1, min(5, len(cats))))})
                     for _ in range(60)]
    assert model._kmeans(random.Random(seed)) == _kmeans_by_definition(model, random.Random(seed))
