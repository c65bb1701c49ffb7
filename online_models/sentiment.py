"""Review sentiment: an online text classifier (River) and a per-user EWMA of its scores.

Pure: no Faust, no I/O. One trainer calls :meth:`SentimentModel.learn_one` on reviews that
carry a rating; workers score review text with a pickled snapshot.
"""

from __future__ import annotations

import math

from river import compose, feature_extraction, naive_bayes

from online_models.profile import UserState


class SentimentModel:
    """Positive / negative review classifier learned online from ratings.

    ``BagOfWords(lowercase=True, ngram_range=(1, 2)) | ComplementNB()``: word and bigram
    counts suit short reviews and naive Bayes learns from the first example. Ratings >= 4
    teach "positive", <= 2 "negative", 3 is skipped (ambiguous). The score is
    ``P(positive) - P(negative)`` in [-1, 1], and 0 until both classes have been seen.

    Parameters
    ----------
    alpha
        Additive smoothing of ComplementNB.

    Examples
    --------
    >>> import pickle
    >>> m = SentimentModel()
    >>> m.score("great quality")
    0.0
    >>> for text, rating in [("great quality, love it", 5), ("terrible, broke fast", 1),
    ...                      ("love it", 4), ("terrible quality", 2), ("it is okay", 3)]:
    ...     _ = m.learn_one(text, rating)
    >>> m.score("love it") > 0.5, m.score("broke after a week") < -0.5
    (True, True)
    >>> pickle.loads(pickle.dumps(m)).score("love it") == m.score("love it")
    True
    """

    def __init__(self, *, alpha: float = 1.0) -> None:
        if alpha <= 0:
            raise ValueError(f"alpha must be > 0, got {alpha}")
        self.alpha = alpha
        self.pipeline = compose.Pipeline(
            feature_extraction.BagOfWords(lowercase=True, ngram_range=(1, 2)),
            naive_bayes.ComplementNB(alpha=alpha),
        )
        self.n_positive = 0
        self.n_negative = 0

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
        if isinstance(rating, bool) or rating not in (1, 2, 3, 4, 5):
            raise ValueError(f"rating must be an integer in 1..5, got {rating!r}")
        if rating == 3 or not text or not text.strip():
            return False
        positive = rating >= 4
        self.pipeline.learn_one(text, positive)  # type: ignore[arg-type]  # BagOfWords takes str
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
        if not self.n_positive or not self.n_negative or not text or not text.strip():
            return 0.0
        proba = self.pipeline.predict_proba_one(text)  # type: ignore[arg-type]  # str input
        value = float(proba.get(True, 0.0)) - float(proba.get(False, 0.0))
        return max(-1.0, min(1.0, value)) if math.isfinite(value) else 0.0


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
