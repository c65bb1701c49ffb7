"""Unit tests for `online_models.sentiment`: classifier warm-up, learning, hashing, EWMA."""

from __future__ import annotations

import math
import random

import pytest
from river import naive_bayes

from online_models.profile import UserState
from online_models.sentiment import (
    BUCKETS,
    MAX_TERMS,
    SentimentModel,
    text_features,
    update_user_sentiment,
)
from streams.data.datasets import synthetic_events

pytestmark = pytest.mark.unit


def test_sentiment__zero_before_both_classes() -> None:
    model = SentimentModel()
    assert model.score("love it") == 0.0
    assert model.learn_one("love it", 5)
    assert model.score("love it") == 0.0  # only one class seen
    assert not model.learn_one("it is okay", 3)
    assert not model.learn_one("   ", 1)


def test_sentiment__learns_synthetic_reviews() -> None:
    model = SentimentModel()
    reviews = [e for e in synthetic_events(users=300, days=40, seed=3) if e["type"] == "review"]
    train, test = reviews[: len(reviews) // 2], reviews[len(reviews) // 2 :]
    for review in train:
        model.learn_one(review["text"], review["rating"])
    polar = [r for r in test if r["rating"] != 3]
    right = sum((model.score(r["text"]) > 0) == (r["rating"] >= 4) for r in polar)
    assert len(polar) > 50 and right / len(polar) > 0.9


def test_sentiment__scores_bounded_and_tolerate_unknown_words() -> None:
    model = SentimentModel()
    model.learn_one("great", 5)
    model.learn_one("awful", 1)
    for text in ("great great great", "awful", "zxqv never seen", "GREAT!"):
        assert -1.0 <= model.score(text) <= 1.0
    assert model.score("GREAT!") > 0 > model.score("awful")


def test_sentiment__bad_rating_raises_value_error() -> None:
    for rating in (0, 6, True, 4.5):
        with pytest.raises(ValueError):
            SentimentModel().learn_one("text", rating)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        SentimentModel(alpha=0)


def test_sentiment__ewma_update_of_user_state() -> None:
    state = UserState()
    assert update_user_sentiment(state, -0.5) == -0.5
    assert update_user_sentiment(state, 0.5, alpha=0.5) == 0.0
    assert state.sentiment == 0.0
    with pytest.raises(ValueError):
        update_user_sentiment(state, 1.5)
    with pytest.raises(ValueError):
        update_user_sentiment(state, 0.1, alpha=0.0)


def test_sentiment__likelihood_equals_rivers_complement_nb() -> None:
    rng = random.Random(5)
    for alpha in (1.0, 0.37):
        model = SentimentModel(alpha=alpha)
        for _ in range(500):
            terms = {rng.randrange(BUCKETS): rng.randint(1, 3) for _ in range(40)}
            model.learn_features(terms, rng.choice((1, 5)))
        for text in ("great love it", "never seen words here", "broke"):
            x = model.features(text)
            ours = model.classifier.joint_log_likelihood(x)
            river = naive_bayes.ComplementNB.joint_log_likelihood(model.classifier, x)
            assert ours.keys() == river.keys()
            assert all(math.isclose(ours[c], river[c], rel_tol=1e-12) for c in ours)
            if alpha == 1.0:
                assert ours == river


def test_sentiment__vocabulary_is_bounded_by_the_buckets() -> None:
    model, rng = SentimentModel(buckets=64), random.Random(2)
    for i in range(300):
        text = " ".join(f"word{rng.randrange(10**6)}" for _ in range(30))
        model.learn_one(text, 1 + 4 * (i % 2))
    assert len(model.classifier.feature_counts) == 64
    assert -1.0 <= model.score("word12 word99") <= 1.0


def test_text_features__stable_and_capped() -> None:
    assert text_features("Great, GREAT quality") == text_features("great great quality")
    long = " ".join(f"w{i}" for i in range(3000))
    assert len(text_features(long)) == MAX_TERMS
    assert text_features("a b c") == {}
