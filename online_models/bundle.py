"""Every learned model in one bundle: one trainer learns it, every worker scores with a copy.

River estimators are not safe to share or merge, so workers never learn: they send training
examples (:mod:`online_models.training`) to the trainer, which calls
:meth:`ModelBundle.learn` and periodically publishes :meth:`ModelBundle.snapshot` bytes.

A snapshot is data, never code: JSON holding each component's ``to_data()`` under its name
in :data:`COMPONENTS` (each with its own kind and schema version), read back with
``from_data`` after checking every field. Adding a model to the bundle is one entry there.

Pure: no Faust, no I/O.
"""

from __future__ import annotations

import time
from typing import Any

from online_models import modeldata as md
from online_models.asof import AsOf
from online_models.candidates import NAMES, PRIOR, candidate_scores, learner_inputs
from online_models.champion import Champion
from online_models.interest import InterestModel
from online_models.learner import Calibration, ChurnModel
from online_models.priors import Priors
from online_models.profile import DAY
from online_models.rfm import RFMScorer
from online_models.sentiment import SentimentModel
from online_models.training import (
    KINDS,
    Buyer,
    ChurnLabel,
    Interests,
    ReviewTerms,
    RfmSample,
    TrainingExample,
)

# Bundle attribute -> its class (``to_data()`` / ``from_data(d)``). A snapshot without one
# of them (an older trainer) leaves that component fresh; unknown names are ignored (a newer
# trainer), so workers and trainer can be upgraded one at a time. The trainer's checkpoints of
# past scorers (``asof``) stay out: after a trainer restart, labels taken before it are scored
# with the current scorers until new checkpoints accrue.
COMPONENTS: dict[str, Any] = {
    "churn": ChurnModel,
    "calibration": Calibration,
    "sentiment": SentimentModel,
    "rfm": RFMScorer,
    "interest": InterestModel,
    "priors": Priors,
    "champion": Champion,
}
# The churn learner's SGD rate. Its labels arrive in bursts of one instant (everyone's
# snapshot at a rescore resolves H days later): at 0.01 a burst dragged its ranking of CDNOW's
# population at a cut to 0.39-0.74 (BG/NBD 0.72-0.80); at 0.001 it stayed within 0.017 of
# BG/NBD before September 1997 and above it after.
LEARNER_LR = 0.001
# Switching: window AUCs averaged over 5 evaluations, and a lead of 2 DeLong standard errors
# on the current window (see ``Champion``): on CDNOW the served candidate changed 20 times
# with one noisy window, and twice served one that ranked the population below BG/NBD.
CHAMPION_MEMORY, CHAMPION_MIN_Z = 5, 2.0
# A snapshot must fit one Kafka message: Faust's producer refuses requests over 1,000,000
# bytes (``producer_max_request_size``); 960,000 leaves room for the record's key, headers,
# batch overhead and the 89-byte signature envelope.
MAX_SNAPSHOT_BYTES = 960_000
_SCHEMA = 1


class SnapshotTooLarge(ValueError):
    """A snapshot over the size limit; the bundle's version was not bumped."""


class ModelBundle:
    """Churn scorers + review sentiment + RFM quantiles + interest clusters, versioned.

    The churn risk served is the calibrated score of the champion among the candidate scorers
    (:mod:`online_models.candidates`: recency, the BG/NBD fitted on the shop's buyers
    (:class:`~online_models.priors.Priors`), the online learner, their stack), judged on the
    window of the newest resolved labels (:class:`~online_models.champion.Champion`) at every
    snapshot and on drift. Before enough labels the fitted BG/NBD serves.

    Parameters
    ----------
    churn_prior
        The learner's churn probability before its first labelled example.
    interest_k
        Number of interest segments.
    horizon_days
        The churn horizon H of the labels (``LIFELINE_CHURN_HORIZON_DAYS``): the BG/NBD
        candidates score "no purchase within H".
    min_learner_labels
        The learner (and the stack) may serve only after learning this many labels.

    Examples
    --------
    >>> b = ModelBundle()
    >>> b.learn(ChurnLabel({"recency_days": 40.0}, 1))
    True
    >>> b.learn(ReviewTerms({1: 2, 40: 1}, 5))
    True
    >>> c = ModelBundle.from_snapshot(b.snapshot())
    >>> (c.version, c.churn.examples, c.counts["review"])
    (1, 1, 1)
    """

    def __init__(self, *, churn_prior: float = 0.5, interest_k: int = 8,
                 horizon_days: float = 90.0, min_learner_labels: int = 2000) -> None:
        if not horizon_days > 0 or min_learner_labels < 0:
            raise ValueError("need horizon_days > 0 and min_learner_labels >= 0")
        self.horizon_days = float(horizon_days)
        self.min_learner_labels = min_learner_labels
        self.priors = Priors()
        self.champion = Champion(NAMES, default=PRIOR, memory=CHAMPION_MEMORY,
                                 min_z=CHAMPION_MIN_Z)
        self.churn = ChurnModel(prior=churn_prior, lr=LEARNER_LR)
        self.asof = AsOf(horizon_days=self.horizon_days)
        self.sentiment = SentimentModel()
        self.rfm = RFMScorer()
        self.interest = InterestModel(k=interest_k)
        self.calibration = Calibration()
        self.counts = dict.fromkeys(KINDS, 0)
        self.version = 0
        self.published_at = 0.0

    def learn(self, ex: TrainingExample) -> bool:
        """Learn one training example; False (ignored) when a model refuses it.

        Examples arrive checked (``training.decode_example``); a model still refuses values
        outside its domain (a negative recency, a review without terms or rated 3).

        >>> b = ModelBundle()
        >>> b.learn(RfmSample(3.0, 2.0, 40.0)), b.learn(RfmSample(-1.0, 2.0, 40.0))
        (True, False)
        """
        try:
            if isinstance(ex, ChurnLabel):
                self._learn_churn(ex.features, ex.label, ex.taken_at)
            elif isinstance(ex, ReviewTerms):  # the text itself from workers before 12
                terms = ex.terms if ex.terms is not None else \
                    self.sentiment.features(ex.text or "")
                if not self.sentiment.learn_features(terms, ex.rating):
                    return False
            elif isinstance(ex, RfmSample):
                self.rfm.learn_one(ex.recency, ex.frequency, ex.monetary, at=ex.at,
                                   span=ex.span)
                if ex.at is not None:
                    self.priors.observe(ex.at)
            elif isinstance(ex, Interests):
                self.interest.learn_one(ex.affinity)
            elif isinstance(ex, Buyer):
                self.priors.learn_buyer(ex.key, float(ex.first), float(ex.last), ex.repeats)
                if self.priors.due():
                    self.priors.refit()
            else:
                return False
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        self.counts[ex.kind] += 1
        self.asof.maybe_take(self.priors.clock, self.churn, self.priors.params, self.champion)
        return True

    def _learn_churn(self, x: dict[str, float], y: int, t: float | None) -> None:
        """Score the label with every candidate as they were at the label's snapshot time
        ``t`` (and the score served then), then learn it."""
        if y not in (0, 1):
            raise ValueError("a churn label is 0 or 1")
        cp = None if t is None else self.asof.at(t)
        # The learner learns from its inputs with the current BG/NBD fit: computed once, and
        # scored with too when the label's checkpoint has the same fit.
        inputs = learner_inputs(x, params=self.priors.params, horizon_days=self.horizon_days)
        if cp is None:
            scores = candidate_scores(x, params=self.priors.params,
                                      horizon_days=self.horizon_days, learner=self.churn,
                                      inputs=inputs)
            self.calibration.update(self.champion.serve(scores), y)
            self.champion.update(scores, y)
        else:
            scores = candidate_scores(x, params=cp.params, horizon_days=self.horizon_days,
                                      learner=cp.learner,
                                      inputs=inputs if cp.params == self.priors.params else None)
            served = self.champion.serve(scores, serving=cp.serving, stack_w=cp.stack_w,
                                         platt=cp.platt)
            self.calibration.update(served, y)
            self.champion.update(scores, y, stack_w=cp.stack_w, platt=cp.platt)
        drifts = self.churn.drift_count
        self.churn.learn_one(inputs, y)
        if t is not None:
            self.priors.observe(t + self.horizon_days * DAY)
        if self.churn.drift_count > drifts:  # drift: judge the candidates again now
            self.champion.evaluate(self.mature(), reason="drift")

    def scores(self, x: dict[str, Any], names: Any = NAMES) -> dict[str, float]:
        """Candidate scores of churn features ``x`` (logit-like, higher = more churn).

        >>> sorted(ModelBundle().scores({"recency_days": 3.0}))
        ['bgnbd', 'learner', 'p_alive', 'recency']
        """
        return candidate_scores(x, params=self.priors.params, horizon_days=self.horizon_days,
                                learner=self.churn, names=names)

    def churn_risk(self, x: dict[str, Any]) -> float:
        """The served churn probability of features ``x`` (the champion's, calibrated).

        >>> b = ModelBundle()  # no labels yet: BG/NBD exp(-E[purchases in 90 days]) serves
        >>> x = {"purchases": 2.0, "frequency": 1.0, "purchase_age_days": 300.0}
        >>> round(b.churn_risk({**x, "recency_days": 200.0}), 3)
        0.854
        >>> round(b.churn_risk({**x, "recency_days": 5.0}), 3)
        0.786
        """
        return self.champion.serve(self.scores(x, self.champion.needs()))

    def explain(self, x: dict[str, Any], top: int = 3) -> list[tuple[str, float]]:
        """The learner's top reasons for churn features ``x`` (see ``ChurnModel.explain``;
        names are the learner's inputs, :func:`~online_models.candidates.learner_inputs`).

        >>> ModelBundle().explain({"recency_days": 40.0})  # nothing learned, no reason
        []
        """
        return self.churn.explain(learner_inputs(x, params=self.priors.params,
                                                 horizon_days=self.horizon_days), top)

    def mature(self) -> dict[str, bool]:
        """Which candidates may serve: the learner once it learned ``min_learner_labels``.

        >>> ModelBundle().mature()["learner"]
        False
        """
        return {n: (self.churn.examples >= self.min_learner_labels if n == "learner" else True)
                for n in NAMES}

    def evaluate(self, reason: str = "snapshot") -> bool:
        """Judge the candidates on the label window now; True when the served one changed.

        >>> ModelBundle().evaluate()  # no labels: the BG/NBD prior keeps serving
        False
        """
        return self.champion.evaluate(self.mature(), reason=reason)

    def metrics(self) -> dict[str, Any]:
        """Quality of the churn scorers (progressive validation) and example counts.

        ``auc`` / ``logloss`` are the learner's over all labels; ``candidates`` has every
        candidate's window AUC / log loss, ``serving`` the served one, ``priors`` the BG/NBD
        fit (parameters, log-likelihood, buyers), ``switches`` the recent decisions.

        >>> m = ModelBundle().metrics()
        >>> m["examples"], m["version"], m["counts"]["churn"], m["serving"]
        (0, 0, 0, 'bgnbd')
        """
        return {**self.churn.metrics(), "version": self.version, "counts": dict(self.counts),
                "calibration_error": round(self.calibration.ece(), 4),
                "serving": self.champion.serving, "candidates": self.champion.metrics(),
                "priors": self.priors.metrics(), "switches": list(self.champion.history)}

    def to_data(self) -> dict[str, Any]:
        """The bundle as data: version, example counts and every component's data.

        >>> d = ModelBundle().to_data()
        >>> d["kind"], d["version"], sorted(d["components"]) == sorted(COMPONENTS)
        ('bundle', 0, True)
        """
        return md.header(
            "bundle", _SCHEMA, version=self.version, published_at=self.published_at,
            counts=dict(self.counts), horizon_days=self.horizon_days,
            min_learner_labels=self.min_learner_labels,
            components={name: getattr(self, name).to_data() for name in COMPONENTS},
        )

    @classmethod
    def from_data(cls, d: Any) -> ModelBundle:
        """The bundle of :meth:`to_data`, every component checked (``ValueError`` if not).

        >>> d = ModelBundle().to_data()
        >>> ModelBundle.from_data({**d, "counts": {"churn": -1}})
        Traceback (most recent call last):
        ...
        ValueError: bundle.counts.churn: -1 is outside [0, 9007199254740992]
        """
        d = md.check_header(d, "bundle", _SCHEMA)
        bundle = cls(horizon_days=md.num(d.get("horizon_days", 90.0), "bundle.horizon_days",
                                         lo=1e-6, hi=36_500),
                     min_learner_labels=md.integer(d.get("min_learner_labels", 2000),
                                                   "bundle.min_learner_labels"))
        bundle.version = md.integer(d.get("version"), "bundle.version")
        bundle.published_at = md.num(d.get("published_at"), "bundle.published_at", lo=0)
        counts = md.obj(d.get("counts"), "bundle.counts")
        for kind, n in counts.items():
            if kind in bundle.counts:
                bundle.counts[kind] = md.integer(n, f"bundle.counts.{kind}")
        components = md.obj(d.get("components"), "bundle.components")
        for name, kind in COMPONENTS.items():
            if name in components:
                setattr(bundle, name, kind.from_data(components[name]))
        bundle.churn.version = bundle.version
        return bundle

    def snapshot(self, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> bytes:
        """Judge the candidates, bump the version and serialize the whole bundle as data (the
        trainer resumes from it too). :class:`SnapshotTooLarge` (version unchanged) if over
        ``max_bytes``.

        >>> b = ModelBundle()
        >>> _ = b.snapshot()
        >>> ModelBundle.from_snapshot(b.snapshot()).version
        2
        >>> b.snapshot(max_bytes=100)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        online_models.bundle.SnapshotTooLarge: snapshot of version 3 is ... bytes, over ...
        """
        self.evaluate()
        self.version += 1
        self.churn.version = self.version
        published_at, self.published_at = self.published_at, time.time()
        data = md.dumps(self.to_data())
        if len(data) > max_bytes:
            self.version -= 1
            self.churn.version, self.published_at = self.version, published_at
            raise SnapshotTooLarge(f"snapshot of version {self.version + 1} is {len(data)} "
                                   f"bytes, over the limit of {max_bytes}")
        return data

    @classmethod
    def from_snapshot(cls, data: bytes, *, max_bytes: int = MAX_SNAPSHOT_BYTES) -> ModelBundle:
        """The bundle of :meth:`snapshot` bytes; ``ValueError`` for anything else (JSON is
        parsed, never executed, and every field is checked before use).

        >>> import pickle
        >>> ModelBundle.from_snapshot(ModelBundle().snapshot()).version
        1
        >>> ModelBundle.from_snapshot(pickle.dumps({"not": "a bundle"}))
        Traceback (most recent call last):
        ...
        ValueError: snapshot is not JSON
        """
        return cls.from_data(md.loads(data, max_bytes=max_bytes))
