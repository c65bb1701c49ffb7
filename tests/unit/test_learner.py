"""Unit tests for `online_models.learner`: the churn learner, its data and calibration."""

from __future__ import annotations

import math
import random
from typing import Any

import pytest

from online_models.learner import Calibration, ChurnModel, ThresholdAUC

pytestmark = pytest.mark.unit


def _stream(n: int, seed: int = 3) -> list[tuple[dict[str, float], int]]:
    """Separable toy stream: churners are silent (high recency), others are not."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        y = int(rng.random() < 0.4)
        recency = rng.uniform(40, 90) if y else rng.uniform(0, 35)
        out.append(({"recency_days": recency, "purchases": rng.uniform(0, 10),
                     "noise": rng.gauss(0, 1)}, y))
    return out


def test_churn_model__predicts_prior_before_learning() -> None:
    assert ChurnModel().predict_proba_one({}) == 0.5
    assert ChurnModel(prior=0.2).predict_proba_one({"recency_days": 10.0}) == 0.2
    assert ChurnModel().explain({"recency_days": 10.0}) == []
    assert ChurnModel().metrics()["examples"] == 0


def test_churn_model__auc_rises_on_separable_stream() -> None:
    model, early = ChurnModel(), None
    for i, (x, y) in enumerate(_stream(3000)):
        model.learn_one(x, y)
        if i == 49:
            early = model.metrics()["auc"]
    late = model.metrics()
    assert early is not None and late["auc"] > 0.95 and late["auc"] > early
    assert late["examples"] == 3000 and 0.3 < late["base_rate"] < 0.5
    assert late["logloss"] < 0.3


def test_churn_model__explain_names_the_risk_driver() -> None:
    model = ChurnModel()
    for x, y in _stream(2000):
        model.learn_one(x, y)
    reasons = model.explain({"recency_days": 80.0, "purchases": 5.0, "noise": 0.0}, top=2)
    assert reasons[0][0] == "recency_days" and reasons[0][1] > 0
    assert all(w > 0 for _, w in reasons) and len(reasons) <= 2
    assert model.explain({"recency_days": 1.0}) == [] or model.explain(
        {"recency_days": 1.0})[0][0] != "recency_days"


def test_churn_model__tolerates_missing_new_and_bad_features() -> None:
    model = ChurnModel()
    for x, y in _stream(300):
        model.learn_one(x, y)
    odd: list[dict[str, Any]] = [
        {}, {"recency_days": 70.0}, {"brand_new": 3.0},
        {"recency_days": math.nan, "purchases": math.inf, "label": "x"},
    ]
    for x in odd:
        p = model.predict_proba_one(x)
        assert 0.0 < p < 1.0
    model.learn_one({"brand_new": 1.0}, 1)
    assert model.metrics()["examples"] == 301


def test_churn_model__bad_label_raises() -> None:
    for bad in (2, -1, 0.5, "1"):
        with pytest.raises(ValueError):
            ChurnModel().learn_one({"a": 1.0}, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ChurnModel(prior=1.0)


def test_churn_model__data_keeps_learning_where_it_stopped() -> None:
    model = ChurnModel()
    stream = _stream(800)
    for x, y in stream[:500]:
        model.learn_one(x, y)
    back = ChurnModel.from_data(model.to_data())
    for x, y in stream[500:]:  # the trainer resumes from the published data
        model.learn_one(x, y)
        back.learn_one(x, y)
    probe = {"recency_days": 50.0, "purchases": 2.0}
    assert back.predict_proba_one(probe) == model.predict_proba_one(probe)
    assert back.metrics() == model.metrics() and model.metrics()["auc"] > 0.9
    assert back.to_data() == model.to_data()


def test_churn_model__from_data_rejects_bad_fields() -> None:
    good = ChurnModel().to_data()
    bad = [
        {**good, "schema": 99},
        {**good, "weights": {"recency_days": "1"}},
        {**good, "weights": {f"f{i}": 0.0 for i in range(1000)}},
        {**good, "scaler": {**good["scaler"], "vars": {"a": -1.0}}},
        {**good, "auc": good["auc"][:3]},
        {**good, "config": {**good["config"], "prior": 1.5}},
        {**good, "positives": 5},  # more positives than examples
    ]
    for d in bad:
        with pytest.raises(ValueError):
            ChurnModel.from_data(d)


def test_churn_model__drift_counted_when_concept_flips() -> None:
    model = ChurnModel()
    stream = _stream(4000, seed=5)
    for x, y in stream[:2000]:
        model.learn_one(x, y)
    before = model.drift_count
    for x, y in stream[2000:]:
        model.learn_one(x, 1 - y)
    assert model.drift_count > before
    assert model.metrics()["drifts"] == model.drift_count


def test_calibration__reliability_table() -> None:
    cal = Calibration(bins=10)
    rng = random.Random(1)
    for _ in range(20_000):
        p = rng.random()
        cal.update(p, int(rng.random() < p))  # perfectly calibrated source
    table = cal.table()
    assert len(table) == 10 and sum(int(r["count"]) for r in table) == 20_000
    assert all(abs(r["mean_predicted"] - r["observed"]) < 0.05 for r in table)
    assert cal.ece() < 0.03
    assert Calibration().table() == [] and Calibration().ece() == 0.0
    with pytest.raises(ValueError):
        cal.update(1.5, 1)
    with pytest.raises(ValueError):
        Calibration(bins=0)


def test_threshold_auc__same_value_and_cells_as_rivers_rocauc() -> None:
    from river import metrics

    rng = random.Random(7)
    ours, river = ThresholdAUC(50), metrics.ROCAUC(n_thresholds=50)
    cells = ((False, False), (False, True), (True, False), (True, True))
    # Probabilities on and next to the thresholds too (a tie with a threshold is not above it).
    edges = [t + d for t in river.thresholds for d in (-1e-12, 0.0, 1e-12)]
    for i in range(3000):
        y = rng.random() < 0.3
        p = rng.choice(edges) if i % 3 == 0 else min(1 - 1e-6, max(1e-6, rng.betavariate(
            2 + 3 * y, 3)))
        ours.update(y, p)
        river.update(y, p)
        if i % 250 == 0 or i == 2999:  # read in between: the pending counts fold in once
            assert ours.get() == river.get()
            assert ours.cells() == [[cm.data.get(t, {}).get(q, 0.0) for t, q in cells]
                                    for cm in river.cms]


def test_churn_model__learner_data_of_rivers_rocauc_loads_the_same() -> None:
    """A learner stored with River's ROCAUC cells (earlier releases) reads back the same
    AUC and writes the same cells."""
    from river import metrics

    model = ChurnModel()
    river = metrics.ROCAUC(n_thresholds=50)
    for x, y in _stream(600):
        river.update(bool(y), model.predict_proba_one(x))
        model.learn_one(x, y)
    cells = ((False, False), (False, True), (True, False), (True, True))
    stored = [[cm.data.get(t, {}).get(q, 0.0) for t, q in cells] for cm in river.cms]
    data = model.to_data()
    assert data["auc"] == stored
    back = ChurnModel.from_data({**data, "auc": stored})
    assert back.metrics()["auc"] == round(river.get(), 4) > 0.9
    assert back.to_data() == data
