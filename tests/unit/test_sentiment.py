"""Unit tests for `online_models.sentiment`: classifier warm-up, learning, EWMA, pickling."""

from __future__ import annotations

import pickle

import pytest

from online_models.profile import UserState
from online_models.sentiment import SentimentModel, update_user_sentiment
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


def test_sentiment__pickle_round_trip() -> None:
    model = SentimentModel()
    model.learn_one("great", 5)
    model.learn_one("awful", 1)
    clone = pickle.loads(pickle.dumps(model))
    assert clone.score("great") == model.score("great")


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
