"""One contract for every estimator of the model bundle, run over each of them.

Every estimator works before any learning, tolerates new, missing and malformed features,
and travels as data only: ``from_data(to_data())`` (through JSON) scores exactly like the
original, keeps learning exactly like it, and refuses malformed data with ``ValueError``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from online_models import modeldata as md
from online_models.bundle import COMPONENTS, ModelBundle
from online_models.champion import Champion
from online_models.interest import GlobalPopularity, InterestModel
from online_models.learner import Calibration, ChurnModel
from online_models.priors import Priors
from online_models.rfm import RFMScorer
from online_models.sentiment import SentimentModel
from online_models.training import ChurnLabel, Interests, ReviewTerms, RfmSample

pytestmark = pytest.mark.unit

_WORDS = ("great", "love", "fast", "awful", "broke", "slow", "fine", "price", "gift", "box")
_CATS = ("shoes", "bags", "toys", "games", "books", "garden")


def _review(rng: random.Random) -> tuple[str, int]:
    rating = rng.choice((1, 2, 3, 4, 5))
    good = rating >= 4
    words = [rng.choice(_WORDS[:3] if good else _WORDS[3:6]) for _ in range(3)]
    words += [rng.choice(_WORDS) for _ in range(rng.randint(0, 4))]
    return " ".join(words), rating


def _churn_x(rng: random.Random) -> tuple[dict[str, float], int]:
    y = int(rng.random() < 0.4)
    return {"recency_days": rng.uniform(40, 90) if y else rng.uniform(0, 35),
            "purchases": float(rng.randint(0, 9))}, y


def _affinity(rng: random.Random) -> dict[str, float]:
    return {c: rng.uniform(0.1, 3.0) for c in rng.sample(_CATS, rng.randint(1, 3))}


@dataclass(frozen=True)
class Case:
    """How the contract drives one estimator: make it, teach it one example, read its
    outputs on fixed probes (what must survive a round trip) and on odd inputs."""

    make: Callable[[], Any]
    learn: Callable[[Any, random.Random], None]
    probe: Callable[[Any], list[Any]]
    odd: Callable[[Any], list[Any]]


def _learn_bundle(b: ModelBundle, rng: random.Random) -> None:
    x, y = _churn_x(rng)
    text, rating = _review(rng)
    assert b.learn(ChurnLabel(x, y))
    b.learn(ReviewTerms(b.sentiment.features(text), rating))
    assert b.learn(RfmSample(rng.uniform(0, 90), float(rng.randint(1, 9)), rng.uniform(5, 500),
                             at=rng.uniform(0, 1e7), span=7.0))
    assert b.learn(Interests(_affinity(rng)))


def _learn_champion(ch: Champion, rng: random.Random) -> None:
    y = int(rng.random() < 0.4)
    ch.update({"a": rng.gauss(0, 1), "b": rng.gauss(0, 1) + 2 * y}, y)
    if ch.labels % 25 == 0:
        ch.evaluate({"a": True, "b": True})


def _learn_priors(pr: Priors, rng: random.Random) -> None:
    first = rng.uniform(0, 1e7)
    pr.learn_buyer(rng.randrange(1 << 30), first, first + rng.uniform(0, 3e7), rng.randint(0, 6))
    pr.observe(first + 3e7)


def _probe_bundle(b: ModelBundle) -> list[Any]:
    return [b.churn.predict_proba_one({"recency_days": 50.0}), b.sentiment.score("love it"),
            b.rfm.score(10.0, 3, 100.0), b.interest.assign({"toys": 1.0}),
            b.interest.recommend({"toys": 1.0}), b.metrics(), b.calibration.table()]


CASES: dict[str, Case] = {
    "ChurnModel": Case(
        make=ChurnModel,
        learn=lambda m, rng: m.learn_one(*_churn_x(rng)),
        probe=lambda m: [m.predict_proba_one({"recency_days": 50.0, "purchases": 2.0}),
                         m.predict_proba_one({"recency_days": 5.0}),
                         m.explain({"recency_days": 80.0, "purchases": 0.0}), m.metrics()],
        odd=lambda m: [m.predict_proba_one(x) for x in (
            {}, {"brand_new": 3.0}, {"recency_days": math.nan, "purchases": "x"})],
    ),
    "Calibration": Case(
        make=Calibration,
        learn=lambda m, rng: m.update(rng.random(), rng.randint(0, 1)),
        probe=lambda m: [m.table(), m.ece()],
        odd=lambda m: [m.table(), m.ece()],
    ),
    "SentimentModel": Case(
        make=SentimentModel,
        learn=lambda m, rng: m.learn_one(*_review(rng)),
        probe=lambda m: [m.score(t) for t in ("great love", "awful slow broke", "fine box")],
        odd=lambda m: [m.score(t) for t in ("", "zxqv never seen", "x" * 5000, "é ü ß")],
    ),
    "RFMScorer": Case(
        make=lambda: RFMScorer(min_samples=5),
        learn=lambda m, rng: m.learn_one(rng.uniform(0, 90), rng.randint(1, 9),
                                         rng.uniform(-20, 500), at=rng.uniform(0, 1e7),
                                         span=rng.uniform(1, 28)),
        probe=lambda m: [m.score(r, f, v) for r, f, v in ((1, 9, 400), (80, 1, 5), (30, 3, 60))]
        + [m.cut_points("m")],
        odd=lambda m: [m.score(0.0, 0, -5.0), m.value_segment(1e6, 1e6, 1e12)],
    ),
    "InterestModel": Case(
        make=lambda: InterestModel(k=3, init_size=20),
        learn=lambda m, rng: m.learn_one(_affinity(rng)),
        probe=lambda m: [m.assign({"toys": 1.0, "games": 2.0}), m.recommend({"shoes": 1.0}),
                         [m.label(c) for c in range(len(m.centres))]],
        odd=lambda m: [m.assign({}), m.assign({"never-seen": 1.0}),
                       m.recommend({"never-seen": 2.0, "toys": math.nan})],
    ),
    "GlobalPopularity": Case(
        make=GlobalPopularity,
        learn=lambda m, rng: m.learn_one(_affinity(rng)),
        probe=lambda m: [m.recommend({"toys": 1.0}, k=4)],
        odd=lambda m: [m.recommend({}), m.recommend({"never-seen": 1.0})],
    ),
    "Champion": Case(
        make=lambda: Champion(["a", "b"], default="a", window=100, min_labels=10),
        learn=_learn_champion,
        probe=lambda ch: [ch.serve({"a": 0.3, "b": -0.2}), ch.serving, ch.needs(), ch.labels],
        odd=lambda ch: [ch.serve({"a": math.nan, "b": 0.0}), ch.serve({"a": 1e9, "b": 0.0})],
    ),
    "Priors": Case(
        make=lambda: Priors(min_buyers=5),
        learn=_learn_priors,
        probe=lambda pr: [pr.params, pr.metrics(), pr.due()],
        odd=lambda pr: [pr.metrics(), pr.due()],
    ),
    "ModelBundle": Case(make=ModelBundle, learn=_learn_bundle, probe=_probe_bundle,
                        odd=lambda b: [b.learn(ReviewTerms({}, 5)),
                                       b.learn(ChurnLabel({}, 7)),
                                       b.churn.predict_proba_one({"new": 1.0})]),
}
IDS = sorted(CASES)


def _trained(case: Case, n: int, seed: int = 7) -> Any:
    model, rng = case.make(), random.Random(seed)
    for _ in range(n):
        case.learn(model, rng)
    return model


def _through_json(model: Any) -> Any:
    raw = md.dumps(model.to_data())
    return type(model).from_data(md.loads(raw, max_bytes=len(raw)))


def test_estimator_contract__covers_every_bundle_component() -> None:
    assert {kind.__name__ for kind in COMPONENTS.values()} | {"ModelBundle"} <= set(CASES)


@pytest.mark.parametrize("name", IDS)
def test_estimator_contract__works_before_learning(name: str) -> None:
    case = CASES[name]
    fresh = case.make()
    assert case.probe(fresh) == case.probe(_through_json(fresh))
    case.odd(fresh)  # nothing raises on a fresh estimator
    case.learn(fresh, random.Random(1))  # the very first example is learned


@pytest.mark.parametrize("name", IDS)
def test_estimator_contract__tolerates_new_and_missing_features(name: str) -> None:
    case = CASES[name]
    model = _trained(case, 150)
    before = model.to_data()
    outputs = case.odd(model)
    assert len(outputs) >= 2
    for value in outputs:
        if isinstance(value, float):
            assert math.isfinite(value)
    if name != "ModelBundle":  # scoring odd inputs is read-only (the bundle's learn is not)
        assert model.to_data() == before


@pytest.mark.parametrize("name", IDS)
def test_estimator_contract__data_round_trip_scores_and_learns_alike(name: str) -> None:
    case = CASES[name]
    model = _trained(case, 400)
    back = _through_json(model)
    assert case.probe(back) == case.probe(model)
    assert back.to_data() == model.to_data()
    rng_a, rng_b = random.Random(99), random.Random(99)
    for _ in range(100):  # the trainer resumes from the data and learns exactly alike
        case.learn(model, rng_a)
        case.learn(back, rng_b)
    assert case.probe(back) == case.probe(model)


def _leaves(d: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(d, dict) and d:
        for k, v in d.items():
            yield from _leaves(v, (*path, k))
    elif isinstance(d, list) and d:
        for i in sorted({0, len(d) - 1}):
            yield from _leaves(d[i], (*path, i))
    else:
        yield path


def _replaced(d: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, rest = path[0], path[1:]
    if isinstance(d, dict):
        return {**d, head: _replaced(d[head], rest, value)}
    return [_replaced(v, rest, value) if i == head else v for i, v in enumerate(d)]


@pytest.mark.parametrize("name", IDS)
def test_estimator_contract__refuses_malformed_data(name: str) -> None:
    case = CASES[name]
    kind = type(case.make())
    data = _trained(case, 60).to_data()
    paths = list(_leaves(data))
    assert len(paths) >= 3
    for path in paths:
        for junk in ("junk", math.nan, [[1e308, "x"]]):
            with pytest.raises(ValueError):
                kind.from_data(_replaced(data, path, junk))
    for bad in (None, [], "{}", {**data, "schema": data["schema"] + 1}, {**data, "kind": "x"}):
        with pytest.raises(ValueError):
            kind.from_data(bad)
