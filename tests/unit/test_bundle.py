"""Unit tests for `online_models.bundle`: data-only snapshots, their size bound, and the
training examples workers send (hashed review terms, never the text)."""

from __future__ import annotations

import os
import pickle
import random
from pathlib import Path

import orjson
import pytest

from online_models.bundle import MAX_SNAPSHOT_BYTES, ModelBundle, SnapshotTooLarge
from online_models.contract import MAX_TEXT_CHARS, Event
from online_models.engine import EngineConfig, on_event
from online_models.profile import UserState
from online_models.sentiment import BUCKETS, MAX_TERMS
from online_models.training import ChurnLabel, ReviewTerms, decode_example

pytestmark = pytest.mark.unit


class _CreatesFile:
    """Unpickling this runs ``touch`` on the marker path: code hidden in data."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, (f"touch {self.path}",))


def _long_review(rng: random.Random) -> str:
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < MAX_TEXT_CHARS - 20:
        words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                             for _ in range(rng.randint(3, 10))))
    return " ".join(words)


def test_bundle__pickle_is_refused_without_being_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    payload = pickle.dumps(_CreatesFile(str(marker)))
    with pytest.raises(ValueError, match="not JSON"):
        ModelBundle.from_snapshot(payload)
    assert not marker.exists()
    pickle.loads(payload)  # the payload is live: unpickling it does create the file
    assert marker.exists()


def test_bundle__snapshot_is_json_data_with_a_schema() -> None:
    bundle = ModelBundle()
    bundle.learn(ChurnLabel({"recency_days": 40.0}, 1))
    data = orjson.loads(bundle.snapshot())
    assert data["kind"] == "bundle" and data["schema"] == 1 and data["version"] == 1
    assert set(data["components"]) == {"churn", "calibration", "sentiment", "rfm", "interest",
                                       "priors", "champion"}
    assert all(c["schema"] == 1 for c in data["components"].values())


def test_bundle__forty_long_random_reviews_stay_small() -> None:
    rng, bundle = random.Random(7), ModelBundle()
    for _ in range(40):
        bundle.learn(ReviewTerms(None, rng.choice((1, 5)), text=_long_review(rng)))
    assert bundle.counts["review"] == 40
    assert len(bundle.snapshot()) < 150_000  # an unbounded vocabulary took 3.2 MB


def test_bundle__full_sentiment_model_fits_the_message_limit() -> None:
    rng, bundle = random.Random(3), ModelBundle()
    while len(bundle.sentiment.classifier.feature_counts) < BUCKETS:
        terms = [(rng.randrange(BUCKETS), rng.randint(1, 9)) for _ in range(MAX_TERMS)]
        bundle.learn(ReviewTerms(dict(terms), rng.choice((1, 5))))
    size = len(bundle.snapshot())
    assert 200_000 < size < MAX_SNAPSHOT_BYTES // 2  # every bucket in both classes: the bound


def test_bundle__oversized_snapshot_is_refused_and_keeps_its_version() -> None:
    bundle = ModelBundle()
    first = bundle.snapshot()
    with pytest.raises(SnapshotTooLarge, match=r"over the limit of 100\b"):
        bundle.snapshot(max_bytes=100)
    assert bundle.version == 1 and bundle.churn.version == 1
    assert ModelBundle.from_snapshot(bundle.snapshot()).version == 2
    with pytest.raises(ValueError, match="over the limit"):
        ModelBundle.from_snapshot(first, max_bytes=len(first) - 1)


def test_bundle__review_training_example_carries_no_text() -> None:
    bundle, state = ModelBundle(), UserState()
    text = "Secretword quality, would recommend to Alice at 12 Baker Street"
    review = Event("e1", "u1", "review", 1e9, rating=5, text=text)
    out = on_event("u1", state, review, models=bundle, config=EngineConfig())
    [sent] = [ex.to_dict() for ex in out.training if isinstance(ex, ReviewTerms)]
    wire = orjson.dumps({"examples": [ex.to_dict() for ex in out.training]}).decode()
    words = [w for w in text.lower().replace(",", "").split() if len(w) >= 4]
    assert len(words) == 7 and not [w for w in words if w in wire.lower()]
    assert sent["rating"] == 5 and 0 < len(sent["h"]) <= MAX_TERMS
    assert all(0 <= b < BUCKETS and n >= 1 for b, n in sent["h"])
    assert bundle.learn(decode_example(sent)) and bundle.counts["review"] == 1


def test_bundle__long_review_example_is_bounded() -> None:
    bundle, state = ModelBundle(), UserState()
    text = _long_review(random.Random(1))
    out = on_event("u1", state, Event("e1", "u1", "review", 1e9, rating=1, text=text),
                   models=bundle, config=EngineConfig())
    [sent] = [ex.to_dict() for ex in out.training if isinstance(ex, ReviewTerms)]
    assert len(sent["h"]) == MAX_TERMS and len(orjson.dumps(sent)) < 4_000 < len(text)


def test_bundle__review_examples_are_checked() -> None:
    bundle = ModelBundle()
    for bad in ([[1, 0]], [[1, "2"]], [[1]], "love it", [[1, 1]] * (MAX_TERMS + 1)):
        with pytest.raises(ValueError, match=r"review\.h"):
            decode_example({"k": "review", "h": bad, "rating": 5})
    assert not bundle.learn(decode_example({"k": "review", "h": [[BUCKETS, 1]], "rating": 5}))
    with pytest.raises(ValueError, match=r"review\.rating"):
        decode_example({"k": "review", "h": [[1, 1]], "rating": 6})
    older = decode_example({"k": "review", "text": "love it", "rating": 5})  # older workers
    assert bundle.learn(older)
    assert bundle.counts["review"] == 1


class _TwiceComputed(ModelBundle):
    """The trainer's churn step as it was: the learner's inputs computed for scoring and
    again for learning (the reference the shared computation must match exactly)."""

    def _learn_churn(self, x: dict[str, float], y: int, t: float | None) -> None:
        from online_models.candidates import candidate_scores, learner_inputs

        cp = None if t is None else self.asof.at(t)
        if cp is None:
            scores = self.scores(x)
            self.calibration.update(self.champion.serve(scores), y)
            self.champion.update(scores, y)
        else:
            scores = candidate_scores(x, params=cp.params, horizon_days=self.horizon_days,
                                      learner=cp.learner)
            served = self.champion.serve(scores, serving=cp.serving, stack_w=cp.stack_w,
                                         platt=cp.platt)
            self.calibration.update(served, y)
            self.champion.update(scores, y, stack_w=cp.stack_w, platt=cp.platt)
        drifts = self.churn.drift_count
        self.churn.learn_one(learner_inputs(x, params=self.priors.params,
                                            horizon_days=self.horizon_days), y)
        if t is not None:
            self.priors.observe(t + self.horizon_days * 86_400.0)
        if self.churn.drift_count > drifts:
            self.champion.evaluate(self.mature(), reason="drift")


def test_bundle__churn_labels_learned_as_with_inputs_computed_twice() -> None:
    from online_models.training import Buyer

    rng = random.Random(5)
    now, day = 1_000_000_000.0, 86_400.0
    new, old = ModelBundle(min_learner_labels=50), _TwiceComputed(min_learner_labels=50)
    for i in range(1200):
        now += rng.uniform(0, 0.4) * day
        examples: list[object] = []
        if i % 3 == 0:  # buyers, so the BG/NBD fit changes along the way
            first = now - rng.uniform(0, 300) * day
            examples.append(Buyer(i, int(first), int(first + rng.uniform(0, 1) *
                                                      (now - first)), rng.randint(0, 5)))
        recency = rng.uniform(0, 200)
        x = {"recency_days": recency, "purchases": float(rng.randint(1, 6)),
             "frequency": float(rng.randint(0, 5)), "purchase_age_days": recency + 30.0,
             "gap_mean": rng.uniform(1, 60), "gap_std": rng.uniform(0, 20)}
        examples.append(ChurnLabel(x, int(recency > 60 or rng.random() < 0.2),
                                   now - 90 * day if i % 2 else None))
        for ex in examples:
            assert new.learn(ex) == old.learn(ex)  # type: ignore[arg-type]
        if i % 400 == 399:
            new.snapshot(), old.snapshot()
    assert new.priors.fits > 1 and new.churn.examples == 1200
    a, b = new.to_data(), old.to_data()
    a.pop("published_at"), b.pop("published_at")
    assert a == b
