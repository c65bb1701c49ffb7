"""Training examples: what workers send the one trainer (``lifeline-training``), typed.

Five kinds, each a frozen record with one JSON encoding: :meth:`to_dict` writes the short keys
of the wire (``{"k": kind, ...}``: one batch of a busy worker holds thousands of them) and
:func:`decode_example` reads them back, checking every field and raising ``ValueError`` with
the offending field for anything malformed. The trainer learns what decodes and counts the
rest (agents/train_models.py).

=========  ===================  ======================================================
kind       record               wire keys
=========  ===================  ======================================================
churn      :class:`ChurnLabel`  ``x`` features, ``y`` label 0/1, ``t`` snapshot time
review     :class:`ReviewTerms` ``h`` hashed terms ``[[bucket, count], ...]``, ``rating``
rfm        :class:`RfmSample`   ``r`` ``f`` ``m`` recency/frequency/money, ``at``, ``s`` span
interest   :class:`Interests`   ``a`` category affinities
buyer      :class:`Buyer`       ``u`` key, ``f`` first and ``l`` last purchase, ``x`` repeats
=========  ===================  ======================================================

Pure: no Faust, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from online_models import modeldata as md
from online_models.contract import MAX_TEXT_CHARS
from online_models.sentiment import MAX_TERMS

MAX_FEATURES = 256  # churn features per label (the learner's feature set is far smaller)
MAX_CATEGORIES = 1024  # affinities per interest vector


@dataclass(frozen=True, slots=True)
class ChurnLabel:
    """A resolved delayed label: the features of a snapshot taken at ``taken_at`` and
    whether the user churned (1) or purchased within the horizon (0).

    >>> ChurnLabel({"recency_days": 3.0}, 1, 0.0).to_dict()
    {'k': 'churn', 'x': {'recency_days': 3.0}, 'y': 1, 't': 0.0}
    """

    features: dict[str, float]
    label: int
    taken_at: float | None = None
    kind: ClassVar[str] = "churn"

    def to_dict(self) -> dict[str, Any]:
        """The wire form (``t`` omitted when unknown)."""
        d: dict[str, Any] = {"k": self.kind, "x": self.features, "y": self.label}
        if self.taken_at is not None:
            d["t"] = self.taken_at
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ChurnLabel:
        """The record of :meth:`to_dict` (every field checked)."""
        t = d.get("t")
        return cls(md.num_map(d.get("x"), "churn.x", max_len=MAX_FEATURES),
                   md.integer(d.get("y"), "churn.y", hi=1),
                   None if t is None else md.num(t, "churn.t"))


@dataclass(frozen=True, slots=True)
class ReviewTerms:
    """A rated review as hashed term counts (bucket -> count); the text never leaves the
    worker. ``text`` is only read from batches of workers that sent the text itself.

    >>> ReviewTerms({7: 1, 40: 2}, 5).to_dict()
    {'k': 'review', 'h': [[7, 1], [40, 2]], 'rating': 5}
    """

    terms: dict[int, int] | None
    rating: int
    text: str | None = None
    kind: ClassVar[str] = "review"

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        d: dict[str, Any] = {"k": self.kind}
        if self.terms is not None:
            d["h"] = [[b, n] for b, n in self.terms.items()]
        if self.text is not None:
            d["text"] = self.text
        d["rating"] = self.rating
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReviewTerms:
        """The record of :meth:`to_dict` (every field checked; ``h`` or ``text`` needed)."""
        rating = md.integer(d.get("rating"), "review.rating", lo=1, hi=5)
        if "h" in d:
            pairs = md.seq(d["h"], "review.h", max_len=MAX_TERMS)
            terms = {md.integer(b, "review.h.bucket", hi=1 << 20):
                     md.integer(n, "review.h.count", lo=1, hi=10_000)
                     for b, n in (md.pair(p, "review.h[]") for p in pairs)}
            return cls(terms, rating)
        if "text" in d:
            return cls(None, rating, md.text(d["text"], "review.text", max_len=MAX_TEXT_CHARS))
        raise ValueError("review: expected hashed terms h (or a text)")


@dataclass(frozen=True, slots=True)
class RfmSample:
    """A buyer's raw recency (days), frequency and monetary value at event time ``at``,
    standing for ``span`` days of that user (see ``RFMScorer.learn_one``).

    >>> RfmSample(3.0, 2.0, 40.0, at=86_400.0, span=7.0).to_dict()
    {'k': 'rfm', 'r': 3.0, 'f': 2.0, 'm': 40.0, 'at': 86400.0, 's': 7.0}
    """

    recency: float
    frequency: float
    monetary: float
    at: float | None = None
    span: float = 1.0
    kind: ClassVar[str] = "rfm"

    def to_dict(self) -> dict[str, Any]:
        """The wire form (``at`` omitted when unknown)."""
        d: dict[str, Any] = {"k": self.kind, "r": self.recency, "f": self.frequency,
                             "m": self.monetary}
        if self.at is not None:
            d["at"] = self.at
        d["s"] = self.span
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RfmSample:
        """The record of :meth:`to_dict` (every field checked; ``s`` defaults to 1 day)."""
        at = d.get("at")
        return cls(md.num(d.get("r"), "rfm.r", lo=0), md.num(d.get("f"), "rfm.f", lo=0),
                   md.num(d.get("m"), "rfm.m"), None if at is None else md.num(at, "rfm.at"),
                   md.num(d.get("s", 1.0), "rfm.s", lo=1e-9))


@dataclass(frozen=True, slots=True)
class Interests:
    """A user's category affinities, for the interest clustering.

    >>> Interests({"shoes": 2.5}).to_dict()
    {'k': 'interest', 'a': {'shoes': 2.5}}
    """

    affinity: dict[str, float]
    kind: ClassVar[str] = "interest"

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {"k": self.kind, "a": self.affinity}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Interests:
        """The record of :meth:`to_dict` (every field checked)."""
        return cls(md.num_map(d.get("a"), "interest.a", max_len=MAX_CATEGORIES))


@dataclass(frozen=True, slots=True)
class Buyer:
    """A buyer's history for the BG/NBD priors: ``key`` (``priors.buyer_key``), first and
    last purchase (whole epoch seconds) and repeat purchases.

    >>> Buyer(1053685878, 0, 86_400, 1).to_dict()
    {'k': 'buyer', 'u': 1053685878, 'f': 0, 'l': 86400, 'x': 1}
    """

    key: int
    first: int
    last: int
    repeats: int
    kind: ClassVar[str] = "buyer"

    def to_dict(self) -> dict[str, Any]:
        """The wire form."""
        return {"k": self.kind, "u": self.key, "f": self.first, "l": self.last,
                "x": self.repeats}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Buyer:
        """The record of :meth:`to_dict` (every field checked)."""
        return cls(md.integer(d.get("u"), "buyer.u", hi=2**32 - 1),
                   md.integer(d.get("f"), "buyer.f", lo=-(2**53)),
                   md.integer(d.get("l"), "buyer.l", lo=-(2**53)),
                   md.integer(d.get("x"), "buyer.x"))


TrainingExample = ChurnLabel | ReviewTerms | RfmSample | Interests | Buyer
RECORDS: dict[str, Any] = {r.kind: r for r in (ChurnLabel, ReviewTerms, RfmSample, Interests,
                                               Buyer)}
KINDS = tuple(RECORDS)


def decode_example(d: Any) -> TrainingExample:
    """The training example of a wire dict; ``ValueError`` naming what is wrong.

    >>> decode_example({"k": "rfm", "r": 3.0, "f": 2.0, "m": 40.0})
    RfmSample(recency=3.0, frequency=2.0, monetary=40.0, at=None, span=1.0)
    >>> decode_example({"k": "churn", "x": {"recency_days": 1.0}, "y": 2})
    Traceback (most recent call last):
    ...
    ValueError: churn.y: 2 is outside [0, 1]
    >>> decode_example({"k": "nonsense"})
    Traceback (most recent call last):
    ...
    ValueError: training example of unknown kind 'nonsense'
    """
    kind = md.obj(d, "training example").get("k")
    record = RECORDS.get(kind) if isinstance(kind, str) else None
    if record is None:
        raise ValueError(f"training example of unknown kind {kind!r}")
    example: TrainingExample = record.from_dict(d)
    return example

