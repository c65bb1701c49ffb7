"""Champion / challenger: window bookkeeping, the switching rule, plain-data round trip."""

from __future__ import annotations

import json
import random

import pytest

from online_models.bundle import ModelBundle
from online_models.champion import STACK, Champion
from online_models.training import ChurnLabel

pytestmark = pytest.mark.unit


def _stream(ch: Champion, labels: int, *, good: str, rng: random.Random,
            every: int = 100) -> list[bool]:
    """Labels where ``good`` separates the classes well, the others weakly; evaluations."""
    switched = []
    for i in range(labels):
        y = int(rng.random() < 0.4)
        scores = {n: (1.2 if n == good else 0.25) * y + rng.gauss(0, 1) for n in ch.names}
        ch.update(scores, y)
        if (i + 1) % every == 0:
            switched.append(ch.evaluate({"prior": True, "learner": True, "recency": True}))
    return switched


@pytest.mark.parametrize(("memory", "min_z"), [(1, 0.0), (5, 2.0)])
def test_champion__prior_first_then_learner_switches_exactly_once(memory: int,
                                                                  min_z: float) -> None:
    rng = random.Random(7)
    ch = Champion(["recency", "prior", "learner"], default="prior", window=1000,
                  min_labels=300, stack=False, memory=memory, min_z=min_z)
    first = _stream(ch, 3000, good="prior", rng=rng)
    assert ch.serving == "prior" and not any(first)
    second = _stream(ch, 3000, good="learner", rng=rng)
    assert ch.serving == "learner"
    assert sum(second) == 1
    assert [(h["from"], h["to"]) for h in ch.history] == [("prior", "learner")]
    # the window holds the newest labels only: the learner's window AUC is the better one
    assert ch.metrics()["learner"]["auc"] > ch.metrics()["prior"]["auc"] + 0.1


def test_champion__equal_candidates_flap_on_one_window_but_not_on_a_sustained_lead() -> None:
    """Two candidates of one quality: noise alone makes a one-window rule switch; averaged
    windows and DeLong's paired test keep the default."""
    switches = {}
    for memory, min_z in ((1, 0.0), (5, 2.0)):
        rng = random.Random(11)
        ch = Champion(["prior", "learner"], default="prior", window=2000, min_labels=300,
                      margin=0.01, stack=False, memory=memory, min_z=min_z)
        for i in range(60_000):
            y = int(rng.random() < 0.5)
            ch.update({"prior": 0.6 * y + rng.gauss(0, 1),
                       "learner": 0.6 * y + rng.gauss(0, 1)}, y)
            if (i + 1) % 500 == 0:
                ch.evaluate()
        switches[memory] = len(ch.history)
    assert switches[1] >= 8  # 120 evaluations of a coin flip between equals
    assert switches[5] * 4 <= switches[1]


def test_champion__paired_z_reads_a_lead_against_its_noise() -> None:
    import numpy as np

    from online_models.champion import paired_z

    rng = np.random.default_rng(3)
    y = rng.random(2000) < 0.5
    base = y + rng.normal(0, 1, 2000)
    assert paired_z(base + rng.normal(0, 0.05, 2000), base, y) == pytest.approx(0, abs=2)
    better = y * 1.5 + rng.normal(0, 1, 2000)
    assert paired_z(better, base, y) > 4 > -4 > paired_z(base, better, y)
    assert np.isnan(paired_z(base, better, np.ones(2000)))


def test_champion__data_without_memory_reads_as_one_window() -> None:
    ch = Champion(["a", "b"], default="a", memory=5, min_z=2.0)
    data = ch.to_data()
    old = {k: v for k, v in data.items() if k not in ("memory", "min_z", "recent")}
    back = Champion.from_data(old)
    assert (back.memory, back.min_z) == (1, 0.0)
    assert Champion.from_data(data).to_data() == data
    with pytest.raises(ValueError):
        Champion.from_data({**data, "recent": {"zzz": [0.5]}})


def test_champion__default_serves_until_min_labels() -> None:
    rng = random.Random(1)
    ch = Champion(["prior", "learner"], default="prior", window=500, min_labels=400,
                  stack=False)
    _stream(ch, 300, good="learner", rng=rng)  # better, but too few labels to decide
    assert ch.serving == "prior"
    _stream(ch, 200, good="learner", rng=rng)
    assert ch.serving == "learner"


def test_champion__immature_candidate_never_serves() -> None:
    rng = random.Random(3)
    ch = Champion(["prior", "learner"], default="prior", window=500, min_labels=100)
    for _ in range(500):
        y = int(rng.random() < 0.5)
        ch.update({"prior": rng.gauss(0, 1), "learner": 2.0 * y + rng.gauss(0, 1)}, y)
    assert not ch.evaluate({"prior": True, "learner": False})
    assert ch.serving == "prior"  # neither the learner nor a stack that includes it
    assert ch.evaluate({"prior": True, "learner": True})
    assert ch.serving in ("learner", STACK)


def test_champion__served_score_is_calibrated_on_the_window() -> None:
    rng = random.Random(5)
    ch = Champion(["a"], default="a", window=2000, min_labels=100, stack=False)
    for _ in range(2000):
        y = int(rng.random() < 0.2)
        ch.update({"a": 10.0 * (y + rng.gauss(0, 1))}, y)  # far too confident as a logit
    ch.evaluate()
    probs = [ch.serve({"a": 10.0 * (int(rng.random() < 0.2) + rng.gauss(0, 1))})
             for _ in range(4000)]
    assert sum(probs) / len(probs) == pytest.approx(0.2, abs=0.03)


def test_champion__data_round_trip_is_json_and_validated() -> None:
    rng = random.Random(2)
    ch = Champion(["prior", "learner"], default="prior", window=200, min_labels=50)
    _stream(ch, 300, good="learner", rng=rng, every=50)
    data = json.loads(json.dumps(ch.to_data()))
    back = Champion.from_data(data)
    assert back.to_data() == ch.to_data()
    assert back.serve({"prior": 0.3, "learner": 1.0}) == ch.serve({"prior": 0.3, "learner": 1.0})
    bad = {**data, "rows": [[2, 0, 0, 0, 0, 0, 0]]}
    with pytest.raises(ValueError):
        Champion.from_data(bad)
    with pytest.raises(ValueError):
        Champion.from_data({**data, "platt": {"prior": [0.0, float("nan")]}})
    row = data["rows"][5]
    for odd in (float("nan"), float("inf"), True, "0.5", None):  # a row checked at once or not
        with pytest.raises(ValueError):
            Champion.from_data({**data, "rows": [*data["rows"][:5], [*row[:3], odd, *row[4:]]]})
    big = [*row[:3], 1e308, 1e308, *row[5:]]  # finite values summing to inf still load
    assert Champion.from_data({**data, "rows": [big]}).rows[0] == big


def test_champion__rows_written_to_4_decimals_as_they_come_and_go() -> None:
    rng = random.Random(4)
    ch = Champion(["prior", "learner"], default="prior", window=50, min_labels=10)
    for i in range(130):  # the window slides between writes; each row is rounded once
        y = int(rng.random() < 0.5)
        ch.update({"prior": rng.gauss(0, 1), "learner": y + rng.gauss(0, 1)}, y)
        if i % 17 == 0:
            assert ch.to_data()["rows"] == [[round(v, 4) for v in r] for r in ch.rows]
    ch.rows.append([1.0, 0.123456, 0.1, 0.1, 0.5, 0.5, 0.5])  # put in by hand: still written
    assert ch.to_data()["rows"] == [[round(v, 4) for v in r] for r in ch.rows]
    assert ch.to_data()["rows"][-1][1] == 0.1235


def test_bundle__scores_labels_as_of_their_snapshot_and_serves_the_learner_once_better(
) -> None:
    b = ModelBundle(min_learner_labels=10)
    rng = random.Random(4)
    for i in range(1200):  # churn is told by the open cart, which only the learner reads
        y = int(rng.random() < 0.5)
        x = {"recency_days": rng.uniform(0, 60), "purchases": 2.0, "cart_open": float(y),
             "frequency": 1.0, "purchase_age_days": 200.0}
        # snapshots every half day; each is scored by the scorers in force when it was taken
        assert b.learn(ChurnLabel(x, y, i * 43_200.0))
    b.snapshot()
    m = b.metrics()
    assert set(m["candidates"]) == {"recency", "bgnbd", "p_alive", "learner", "stack"}
    assert all(c["labels"] == 1200 for c in m["candidates"].values())
    assert m["candidates"]["learner"]["auc"] > 0.9 > m["candidates"]["bgnbd"]["auc"]
    assert m["serving"] in ("learner", "stack")
    assert m["switches"][-1]["from"] == "bgnbd"


def test_bundle__label_is_scored_by_the_learner_of_its_snapshot_time() -> None:
    from online_models.candidates import learner_inputs, logit

    b = ModelBundle(horizon_days=10.0)
    day = 86_400.0
    for i in range(600):  # the learner learns "recency > 30 days means churn" as time passes
        x = {"recency_days": float(i % 60)}
        b.learn(ChurnLabel(x, int(i % 60 > 30), i * day / 10))
    t = 50 * day  # a label whose features were taken 10 days before the newest label
    then = b.asof.at(t)
    assert then is not None and then.at <= t and then.learner.examples < b.churn.examples
    x = {"recency_days": 55.0}
    b.learn(ChurnLabel(x, 1, t))
    z_learner = b.champion.rows[-1][1 + b.champion.names.index("learner")]
    inputs = learner_inputs(x, params=then.params, horizon_days=b.horizon_days)
    assert z_learner == pytest.approx(logit(then.learner.predict_proba_one(inputs)))
    assert z_learner != pytest.approx(logit(b.churn.predict_proba_one(inputs)))


def test_champion__window_rows_checked_at_once_or_one_by_one_alike() -> None:
    rng = random.Random(5)
    ch = Champion(["prior", "learner"], default="prior", window=40, min_labels=10)
    _stream(ch, 60, good="learner", rng=rng, every=20)
    data = json.loads(json.dumps(ch.to_data()))
    ints = [[int(r[0]), *r[1:]] for r in data["rows"]]  # whole numbers stored as ints
    assert Champion.from_data({**data, "rows": ints}).rows == Champion.from_data(data).rows
    assert all(type(v) is float for r in Champion.from_data({**data, "rows": ints}).rows
               for v in r)
    for bad in ([*data["rows"][:-1], data["rows"][-1][:-1]],  # one row short
                [*data["rows"][:-1], [2.0, *data["rows"][-1][1:]]],  # y not 0 / 1
                [*data["rows"][:-1], [*data["rows"][-1][:-1], "0.5"]],  # not a number
                "rows"):
        with pytest.raises(ValueError):
            Champion.from_data({**data, "rows": bad})
