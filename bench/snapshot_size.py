"""Model snapshot bytes and review-sentiment quality: hashed terms vs an unbounded vocabulary.

No broker. Side by side in one run:

* the former sentiment model (River ``BagOfWords(ngram_range=(1, 2)) | ComplementNB``, the
  vocabulary growing with every new word, pickled as the bundle used to be) and the hashed
  one of ``online_models.sentiment`` (``to_data`` as JSON), after ``--long-reviews`` random
  reviews of 10,000 characters and after a realistic amount of training (every training
  example of ``--users`` synthetic users over ``--days`` days run through the lifecycle step,
  learned by one bundle, whose whole snapshot is printed too);
* accuracy and ROC AUC of the sign of the score on held-out polar reviews (rating != 3), for
  the former model and for hashed words in 2 ** 12, 2 ** 14 (the default) and 2 ** 16
  buckets, and hashed words + bigrams in 2 ** 14, on the synthetic reviews and on SYNTHETIC
  long noisy reviews (a Zipf vocabulary of 20,000 neutral words, 300 polar words carrying
  the rating 80 % of the time).

Run: ``python -m bench.snapshot_size [--users 2000 --days 120 --long-reviews 40]
[--sizes-only]``.
"""

from __future__ import annotations

import argparse
import pickle  # only to size the former pickled model: nothing is ever unpickled here
import random
import time
from collections.abc import Callable, Iterable
from typing import Any

import orjson
from river import compose, feature_extraction

from online_models import modeldata as md
from online_models.bundle import ModelBundle
from online_models.contract import MAX_TEXT_CHARS, Event, parse_event
from online_models.engine import EngineConfig, on_event
from online_models.profile import UserState
from online_models.sentiment import SentimentModel, _ComplementNB, text_features

Review = tuple[str, int]


class UnboundedSentiment:
    """The former model: every word and bigram is a feature of its own, forever. Scored with
    the same likelihood in O(terms) (``sentiment._ComplementNB``, equal to River's for
    alpha = 1, see the unit tests): River's own costs O(vocabulary) per score."""

    def __init__(self) -> None:
        self.pipeline = compose.Pipeline(
            feature_extraction.BagOfWords(lowercase=True, ngram_range=(1, 2)),
            _ComplementNB(alpha=1.0))
        self.classes: set[bool] = set()

    def learn_one(self, text: str, rating: int) -> None:
        if rating != 3 and text.strip():
            self.pipeline.learn_one(text, rating >= 4)  # type: ignore[arg-type]
            self.classes.add(rating >= 4)

    def score(self, text: str) -> float:
        if len(self.classes) < 2 or not text.strip():
            return 0.0
        proba = self.pipeline.predict_proba_one(text)  # type: ignore[arg-type]
        return float(proba.get(True, 0.0)) - float(proba.get(False, 0.0))

    def size(self) -> int:
        return len(pickle.dumps(self.pipeline, protocol=pickle.HIGHEST_PROTOCOL))


class HashedBigrams(SentimentModel):
    """Hashed words and bigrams (the default hashes words only)."""

    def features(self, text: str) -> dict[int, int]:
        return text_features(text, buckets=self.buckets, bigrams=True)


def _hashed_size(model: SentimentModel) -> int:
    return len(md.dumps(model.to_data()))


def long_reviews(n: int, seed: int = 7) -> list[Review]:
    """``n`` reviews of random words, each close to the 10,000-character limit."""
    rng, out = random.Random(seed), []
    for _ in range(n):
        words: list[str] = []
        size = 0
        while size < MAX_TEXT_CHARS - 20:
            words.append("".join(rng.choice("abcdefghijklmnopqrstuvwxyz")
                                 for _ in range(rng.randint(3, 10))))
            size += len(words[-1]) + 1
        out.append((" ".join(words), rng.choice((1, 2, 4, 5))))
    return out


def noisy_reviews(n: int, seed: int = 11) -> list[Review]:
    """SYNTHETIC long noisy reviews: Zipf-distributed neutral words, and polar words that
    agree with the rating 80 % of the time (about 6 % of the words)."""
    rng = random.Random(seed)
    neutral = [f"n{i}" for i in range(20_000)]
    weights = [1.0 / (i + 1) for i in range(len(neutral))]
    good, bad = [f"good{i}" for i in range(150)], [f"bad{i}" for i in range(150)]
    out = []
    for _ in range(n):
        rating = rng.choice((1, 2, 3, 4, 5))
        words = rng.choices(neutral, weights, k=rng.randint(30, 200))
        for i in range(len(words)):
            if rng.random() < 0.06:
                agree = rng.random() < 0.8
                positive = (rating >= 4) == agree if rating != 3 else rng.random() < 0.5
                words[i] = rng.choice(good if positive else bad)
        out.append((" ".join(words), rating))
    return out


def synthetic_reviews(users: int, days: int, seed: int) -> list[Review]:
    from streams.data.datasets import synthetic_events

    return [(e["text"], e["rating"]) for e in synthetic_events(users=users, days=days, seed=seed)
            if e["type"] == "review"]


def auc(scores: list[float], labels: list[bool]) -> float:
    """Exact ROC AUC (ties count one half).

    >>> auc([0.9, 0.1, 0.5], [True, False, True])
    1.0
    """
    ranked = sorted(zip(scores, labels, strict=True))
    pos = sum(labels)
    neg = len(labels) - pos
    rank_sum, i = 0.0, 0
    while i < len(ranked):
        j = i
        while j < len(ranked) and ranked[j][0] == ranked[i][0]:
            j += 1
        rank_sum += (i + j + 1) / 2 * sum(1 for k in range(i, j) if ranked[k][1])
        i = j
    return (rank_sum - pos * (pos + 1) / 2) / (pos * neg) if pos and neg else 0.0


def quality(score: Callable[[str], float], test: Iterable[Review]) -> tuple[float, float, int]:
    """Accuracy of ``score > 0`` and ROC AUC on the polar reviews of ``test``."""
    polar = [(t, r >= 4) for t, r in test if r != 3]
    scores = [score(t) for t, _ in polar]
    labels = [y for _, y in polar]
    right = sum((s > 0) == y for s, y in zip(scores, labels, strict=True))
    return right / len(polar), auc(scores, labels), len(polar)


def realistic_bundle(users: int, days: int, seed: int) -> tuple[ModelBundle, list[Review]]:
    """A bundle taught every training example the lifecycle step sends for a synthetic
    population, and the rated reviews it saw (as text, for the former model)."""
    from streams.data.datasets import synthetic_events

    bundle, config = ModelBundle(), EngineConfig()
    states: dict[str, UserState] = {}
    reviews: list[Review] = []
    watermark = 0.0
    for raw in synthetic_events(users=users, days=days, seed=seed):
        event = parse_event(orjson.dumps(raw))
        if not isinstance(event, Event):
            continue
        watermark = max(watermark, event.ts)
        if event.type == "review" and event.text and event.rating is not None:
            reviews.append((event.text, event.rating))
        out = on_event(event.user_id, states.setdefault(event.user_id, UserState()), event,
                       watermark=watermark, models=bundle, config=config)
        for example in out.training:
            bundle.learn(example)
    return bundle, reviews


def _row(label: str, before: float, after: float, unit: str = "") -> str:
    ratio = f"{before / after:8.1f}x" if after else "       -"
    return f"{label:<46} {before:>12,.0f}{unit} {after:>12,.0f}{unit} {ratio}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--days", type=int, default=120)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--long-reviews", type=int, default=40)
    parser.add_argument("--sizes-only", action="store_true", help="skip the quality table")
    args = parser.parse_args(argv)

    print(f"{'bytes':<46} {'unbounded':>12} {'hashed':>12} {'ratio':>9}")
    old, new = UnboundedSentiment(), SentimentModel()
    for text, rating in long_reviews(args.long_reviews):
        old.learn_one(text, rating)
        new.learn_one(text, rating)
    print(_row(f"sentiment after {args.long_reviews} long random reviews", old.size(),
               _hashed_size(new)))
    bundle = ModelBundle()
    bundle.sentiment = new
    print(f"  whole bundle snapshot with it: {len(bundle.snapshot()):,} bytes")

    t0 = time.perf_counter()
    bundle, reviews = realistic_bundle(args.users, args.days, args.seed)
    old = UnboundedSentiment()
    for text, rating in reviews:
        old.learn_one(text, rating)
    print(_row(f"sentiment, {args.users} users x {args.days} days ({len(reviews):,} reviews)",
               old.size(), _hashed_size(bundle.sentiment)))
    components = bundle.to_data()["components"]
    sizes = {name: len(md.dumps(data)) for name, data in components.items()}
    print(f"whole bundle snapshot: {len(bundle.snapshot()):,} bytes "
          f"({', '.join(f'{k} {v:,}' for k, v in sizes.items())}); counts {bundle.counts}; "
          f"{time.perf_counter() - t0:.0f} s")
    if args.sizes_only:
        return
    print(f"\n{'quality: accuracy / ROC AUC (n polar)':<40} {'unbounded':>15} "
          + " ".join(f"{f'2^{b}':>15}" for b in (12, 14, 16)) + f" {'2^14 +bigrams':>15}")
    sets = {"synthetic reviews (300 users, 40 days)": synthetic_reviews(300, 40, 3),
            "SYNTHETIC long noisy reviews": noisy_reviews(4000)}
    for name, data in sets.items():
        train, test = data[: len(data) // 2], data[len(data) // 2:]
        models: list[Any] = [UnboundedSentiment()] + [SentimentModel(buckets=1 << b)
                                                     for b in (12, 14, 16)] + [HashedBigrams()]
        cells = []
        for model in models:
            for text, rating in train:
                model.learn_one(text, rating)
            acc, area, n = quality(model.score, test)
            cells.append(f"{acc:.4f} / {area:.4f}")
        print(f"{name + f' ({n})':<40} " + " ".join(f"{c:>15}" for c in cells))


if __name__ == "__main__":
    main()
