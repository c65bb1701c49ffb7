"""Review sentiment: an online text classifier (River) on hashed words, and a per-user EWMA.

Pure: no Faust, no I/O. Review text is turned into a bounded bag of hashed word buckets
(:func:`text_features`) on the worker that reads it; only those buckets travel to the trainer
(never the text), which calls :meth:`SentimentModel.learn_features`; workers score text with
the published model (:meth:`SentimentModel.to_data`, data only).
"""

from __future__ import annotations

import math
import zlib
from typing import Any

import numpy as np
from river import feature_extraction, naive_bayes

from online_models import modeldata as md
from online_models.profile import UserState

# 2 ** 14 buckets: the model's worst case (every bucket seen in both classes) is 16,384 x
# (4 + 2 x 4) bytes = 196 KiB, 262 KiB in base64, about a quarter of the 960,000-byte
# snapshot limit, with room for every other model of the bundle (2 ** 15: 524 KiB). Measured
# (``bench/snapshot_size.py``): the same accuracy / AUC as the former unbounded words +
# bigrams vocabulary on the synthetic reviews (1.0 / 1.0) and on long noisy ones (0.815 /
# 0.904 vs 0.819 / 0.903). Words only: hashed bigrams (tens of thousands of distinct ones)
# fill every bucket with noise and cost 11 points of accuracy there (0.708 / 0.780).
BUCKETS = 1 << 14
# Distinct buckets kept per review (the most frequent ones): bounds a training example to
# ~3.3 KB whatever the text length (a 10,000-character review has up to ~1,500 words).
MAX_TERMS = 256
_MAX_COUNT = (1 << 32) - 1
_SCHEMA = 1
_WORDS = feature_extraction.BagOfWords(lowercase=True)
_WORDS_AND_BIGRAMS = feature_extraction.BagOfWords(lowercase=True, ngram_range=(1, 2))


def _bucket(term: str | tuple[str, ...], buckets: int) -> int:
    word = term if isinstance(term, str) else " ".join(term)
    return zlib.crc32(word.encode("utf-8")) % buckets  # stable across processes


def text_features(text: str, *, buckets: int = BUCKETS, max_terms: int = MAX_TERMS,
                  bigrams: bool = False) -> dict[int, int]:
    """Counts of the hashed words (and bigrams, if asked) of ``text``: ``{bucket: count}``,
    at most ``max_terms`` buckets (the most frequent, ties to the lower bucket), by bucket.

    Lowercased, accents stripped, words of two or more characters. The text cannot be read
    back from the buckets (order and collisions lose it), but a known word's bucket can be
    computed: this is minimisation, not anonymisation.

    Examples
    --------
    >>> f = text_features("Love it, love it!")
    >>> sorted(f.values()), all(0 <= b < BUCKETS for b in f)
    ([2, 2], True)
    >>> len(text_features(" ".join(f"w{i}" for i in range(1000)), max_terms=10))
    10
    """
    counts: dict[int, int] = {}
    for term, n in (_WORDS_AND_BIGRAMS if bigrams else _WORDS).transform_one(text).items():
        b = _bucket(term, buckets)
        counts[b] = counts.get(b, 0) + int(n)
    if len(counts) > max_terms:
        kept = sorted(counts.items(), key=lambda bc: (-bc[1], bc[0]))[:max_terms]
        counts = dict(kept)
    return dict(sorted(counts.items()))


class _ComplementNB(naive_bayes.ComplementNB):
    """River's ``ComplementNB`` with a joint log-likelihood in O(terms of x) instead of
    O(every bucket seen): River sums ``total[f] + alpha - count[f][c]`` over all features per
    call (7.5 ms with 2 ** 14 buckets seen); that sum is ``T + V * alpha - class_total[c]``.
    Same values (exactly for integer ``alpha``, see ``tests/unit/test_sentiment.py``)."""

    # River annotates the base method as returning float; every subclass returns a dict.
    def joint_log_likelihood(self, x: dict[Any, Any]) -> dict[Any, float]:  # type: ignore[override]
        counts, totals, alpha = self.feature_counts, self.feature_totals, self.alpha
        everything = sum(self.class_totals.values()) + len(counts) * alpha
        out = {}
        for c in self.class_counts:
            norm = everything - self.class_totals[c]
            terms = {}
            for f, frequency in x.items():
                seen = counts.get(f)
                value = alpha if seen is None else totals[f] + alpha - seen.get(c, 0)
                terms[f] = frequency * -math.log(value / norm)
            out[c] = sum(terms.values())
        return out


class SentimentModel:
    """Positive / negative review classifier learned online from ratings.

    Hashed word counts (:func:`text_features`) into River's ``ComplementNB``:
    word counts suit short reviews and naive Bayes learns from the first example; hashing
    into ``buckets`` bounds the model (and its snapshot) whatever the vocabulary. Ratings
    >= 4 teach "positive", <= 2 "negative", 3 is skipped (ambiguous). The score is
    ``P(positive) - P(negative)`` in [-1, 1], and 0 until both classes have been seen.

    Parameters
    ----------
    alpha
        Additive smoothing of ComplementNB.
    buckets
        Number of hash buckets (see :data:`BUCKETS` for the measured choice).

    Examples
    --------
    >>> m = SentimentModel()
    >>> m.score("great quality")
    0.0
    >>> for text, rating in [("great quality, love it", 5), ("terrible, broke fast", 1),
    ...                      ("love it", 4), ("terrible quality", 2), ("it is okay", 3)]:
    ...     _ = m.learn_one(text, rating)
    >>> m.score("love it") > 0.5, m.score("broke after a week") < -0.3
    (True, True)
    >>> SentimentModel.from_data(m.to_data()).score("love it") == m.score("love it")
    True
    """

    def __init__(self, *, alpha: float = 1.0, buckets: int = BUCKETS) -> None:
        if not alpha > 0 or not math.isfinite(alpha):
            raise ValueError(f"alpha must be > 0, got {alpha}")
        if not 1 <= buckets <= 1 << 20:
            raise ValueError(f"buckets must be in 1..2**20, got {buckets}")
        self.alpha, self.buckets = alpha, buckets
        self.classifier = _ComplementNB(alpha=alpha)
        self.n_positive = 0
        self.n_negative = 0

    def features(self, text: str) -> dict[int, int]:
        """The hashed terms of ``text`` for this model (what a training example carries).

        >>> SentimentModel(buckets=8).features("a b")  # one-letter words are not terms
        {}
        """
        return text_features(text, buckets=self.buckets)

    def learn_one(self, text: str, rating: int) -> bool:
        """Learn one rated review; returns False when skipped (rating 3 or blank text).

        Raises
        ------
        ValueError
            If ``rating`` is not an integer in 1..5.

        Examples
        --------
        >>> SentimentModel().learn_one("fine", 3)
        False
        """
        return self.learn_features(self.features(text) if text else {}, rating)

    def learn_features(self, features: dict[int, int], rating: int) -> bool:
        """Learn one rated review given as :meth:`features`; False when skipped (rating 3 or
        no terms). ``ValueError`` on a bad rating, bucket or count.

        Examples
        --------
        >>> m = SentimentModel()
        >>> m.learn_features(m.features("love it"), 5), m.learn_features({}, 5)
        (True, False)
        >>> m.learn_features({BUCKETS: 1}, 5)
        Traceback (most recent call last):
        ...
        ValueError: bucket 16384 is outside 0..16383
        """
        if isinstance(rating, bool) or rating not in (1, 2, 3, 4, 5):
            raise ValueError(f"rating must be an integer in 1..5, got {rating!r}")
        if len(features) > MAX_TERMS:
            raise ValueError(f"{len(features)} terms, at most {MAX_TERMS} allowed")
        for b, n in features.items():
            if isinstance(b, bool) or not isinstance(b, int) or not 0 <= b < self.buckets:
                raise ValueError(f"bucket {b!r} is outside 0..{self.buckets - 1}")
            if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 10_000:
                raise ValueError(f"count {n!r} of bucket {b} is outside 1..10000")
        if rating == 3 or not features:
            return False
        positive = rating >= 4
        self.classifier.learn_one(features, positive)
        if positive:
            self.n_positive += 1
        else:
            self.n_negative += 1
        return True

    def score(self, text: str) -> float:
        """Sentiment of ``text`` in [-1, 1] (0 before both classes were learned or if blank).

        Examples
        --------
        >>> SentimentModel().score("")
        0.0
        """
        if not text or not text.strip():
            return 0.0
        return self.score_features(self.features(text))

    def score_features(self, features: dict[int, int]) -> float:
        """:meth:`score` of a text given as its :meth:`features` (0 when empty).

        Examples
        --------
        >>> m = SentimentModel()
        >>> _ = m.learn_one("love it", 5), m.learn_one("hate it", 1)
        >>> m.score_features(m.features("love")) == m.score("love") > 0
        True
        """
        if not self.n_positive or not self.n_negative or not features:
            return 0.0
        proba = self.classifier.predict_proba_one(features)
        value = float(proba.get(True, 0.0)) - float(proba.get(False, 0.0))
        return max(-1.0, min(1.0, value)) if math.isfinite(value) else 0.0

    def to_data(self) -> dict[str, Any]:
        """The model as data: per seen bucket its (negative, positive) counts, in the order
        the buckets were first seen, plus the class counts (see ``online_models.modeldata``).

        >>> d = SentimentModel().to_data()
        >>> d["kind"], d["buckets"], d["counts"]["shape"]
        ('sentiment', 16384, [0, 2])
        """
        nb = self.classifier
        ids = list(nb.feature_counts)
        counts = [[nb.feature_counts[b].get(False, 0), nb.feature_counts[b].get(True, 0)]
                  for b in ids]
        if any(n > _MAX_COUNT for row in counts for n in row):
            raise ValueError("a bucket count is over 2**32 - 1")
        return md.header(
            "sentiment", _SCHEMA, alpha=self.alpha, buckets=self.buckets,
            n_positive=self.n_positive, n_negative=self.n_negative,
            classes=[[bool(c), int(n)] for c, n in nb.class_counts.items()],
            ids=md.pack(np.asarray(ids, dtype=np.int64).reshape(-1), "<u4"),
            counts=md.pack(np.asarray(counts, dtype=np.int64).reshape(-1, 2), "<u4"),
        )

    @classmethod
    def from_data(cls, d: Any) -> SentimentModel:
        """The model of :meth:`to_data`, checked (``ValueError`` on anything malformed).

        >>> d = SentimentModel().to_data()
        >>> SentimentModel.from_data({**d, "buckets": 0})
        Traceback (most recent call last):
        ...
        ValueError: buckets must be in 1..2**20, got 0
        """
        d = md.check_header(d, "sentiment", _SCHEMA)
        model = cls(alpha=md.num(d.get("alpha"), "sentiment.alpha"),
                    buckets=md.integer(d.get("buckets"), "sentiment.buckets"))
        model.n_positive = md.integer(d.get("n_positive"), "sentiment.n_positive")
        model.n_negative = md.integer(d.get("n_negative"), "sentiment.n_negative")
        ids = md.unpack(d.get("ids"), "<u4", ndim=1, max_items=model.buckets, path="sentiment.ids")
        counts = md.unpack(d.get("counts"), "<u4", ndim=2, max_items=2 * model.buckets,
                           path="sentiment.counts")
        if counts.shape != (len(ids), 2) or len(set(ids.tolist())) != len(ids):
            raise ValueError("sentiment: counts must be (n, 2) for n distinct bucket ids")
        if len(ids) and int(ids.max()) >= model.buckets:
            raise ValueError("sentiment: a bucket id is outside the model's buckets")
        nb = model.classifier
        seen = {True: model.n_positive, False: model.n_negative}
        for item in md.seq(d.get("classes"), "sentiment.classes", max_len=2):
            c, n = md.pair(item, "sentiment.classes[]")
            if not isinstance(c, bool) or md.integer(n, "sentiment.classes[]") != seen[c]:
                raise ValueError("sentiment.classes: must match n_positive and n_negative")
            nb.class_counts[c] = n
        for b, (neg, pos) in zip(ids.tolist(), counts.tolist(), strict=True):
            for c, n in ((False, neg), (True, pos)):
                if n:
                    nb.feature_counts[b][c] = n
                    nb.class_totals[c] += n
            nb.feature_totals[b] = neg + pos
        return model


def update_user_sentiment(state: UserState, score: float, *, alpha: float = 0.3) -> float:
    """Fold one review score into ``state.sentiment`` (EWMA) and return the new value.

    The first score is taken as is; later ones move the average by ``alpha`` (0.3: about
    the last three reviews dominate). Stored rounded to 4 decimals to keep state compact.

    Raises
    ------
    ValueError
        If ``score`` is outside [-1, 1] or ``alpha`` outside (0, 1].

    Examples
    --------
    >>> s = UserState()
    >>> update_user_sentiment(s, 1.0), update_user_sentiment(s, -1.0)
    (1.0, 0.4)
    """
    if not math.isfinite(score) or not -1.0 <= score <= 1.0:
        raise ValueError(f"score must be in [-1, 1], got {score!r}")
    if not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must be in (0, 1], got {alpha!r}")
    previous = state.sentiment
    value = score if previous is None else alpha * score + (1.0 - alpha) * previous
    state.sentiment = round(value, 4)
    return state.sentiment
