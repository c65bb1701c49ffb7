"""Every learned model in one bundle: one trainer learns it, every worker scores with a copy.

River estimators are not safe to share or merge, so workers never learn: they send training
examples (plain dicts, see :func:`example`) to the trainer, which calls
:meth:`ModelBundle.learn` and periodically publishes :meth:`ModelBundle.snapshot` bytes.

Pure: no Faust, no I/O.
"""

from __future__ import annotations

import pickle
import time
from typing import Any

from online_models.interest import InterestModel
from online_models.learner import Calibration, ChurnModel
from online_models.rfm import RFMScorer
from online_models.sentiment import SentimentModel

KINDS = ("churn", "review", "rfm", "interest")


def example(kind: str, **fields: Any) -> dict[str, Any]:
    """A training example for the trainer; ``kind`` is one of :data:`KINDS`.

    >>> example("rfm", r=3.0, f=2.0, m=40.0)
    {'k': 'rfm', 'r': 3.0, 'f': 2.0, 'm': 40.0}
    """
    if kind not in KINDS:
        raise ValueError(f"unknown training example kind {kind!r}; expected one of {KINDS}")
    return {"k": kind, **fields}


class ModelBundle:
    """Churn learner + review sentiment + RFM quantiles + interest clusters, versioned.

    Parameters
    ----------
    churn_prior
        Churn probability before the first labelled example.
    interest_k
        Number of interest segments.

    Examples
    --------
    >>> b = ModelBundle()
    >>> b.learn(example("churn", x={"recency_days": 40.0}, y=1))
    True
    >>> b.learn(example("review", text="love it", rating=5))
    True
    >>> b.learn({"k": "nonsense"})
    False
    >>> c = ModelBundle.from_snapshot(b.snapshot())
    >>> (c.version, c.churn.examples, c.counts["review"])
    (1, 1, 1)
    """

    def __init__(self, *, churn_prior: float = 0.5, interest_k: int = 8) -> None:
        self.churn = ChurnModel(prior=churn_prior)
        self.sentiment = SentimentModel()
        self.rfm = RFMScorer()
        self.interest = InterestModel(k=interest_k)
        self.calibration = Calibration()
        self.counts = dict.fromkeys(KINDS, 0)
        self.version = 0
        self.published_at = 0.0

    def learn(self, ex: dict[str, Any]) -> bool:
        """Learn one training example; False (ignored) when it is malformed.

        >>> b = ModelBundle()
        >>> b.learn(example("rfm", r=3.0, f=2.0, m=40.0)), b.learn(example("rfm", r="x"))
        (True, False)
        """
        try:
            kind = ex["k"]
            if kind == "churn":
                x, y = ex["x"], int(ex["y"])
                self.calibration.update(self.churn.predict_proba_one(x), y)
                self.churn.learn_one(x, y)
            elif kind == "review":
                if not self.sentiment.learn_one(str(ex["text"]), int(ex["rating"])):
                    return False
            elif kind == "rfm":
                at = ex.get("at")
                self.rfm.learn_one(float(ex["r"]), float(ex["f"]), float(ex["m"]),
                                   at=None if at is None else float(at),
                                   span=float(ex.get("s", 1.0)))
            elif kind == "interest":
                self.interest.learn_one({str(k): float(v) for k, v in ex["a"].items()})
            else:
                return False
        except (KeyError, TypeError, ValueError, AttributeError):
            return False
        self.counts[kind] += 1
        return True

    def metrics(self) -> dict[str, Any]:
        """Quality of the churn learner (progressive validation) and example counts.

        >>> m = ModelBundle().metrics()
        >>> m["examples"], m["version"], m["counts"]["churn"]
        (0, 0, 0)
        """
        return {**self.churn.metrics(), "version": self.version, "counts": dict(self.counts),
                "calibration_error": round(self.calibration.ece(), 4)}

    def snapshot(self) -> bytes:
        """Bump the version and pickle the whole bundle (the trainer resumes from it too).

        >>> b = ModelBundle()
        >>> _ = b.snapshot()
        >>> ModelBundle.from_snapshot(b.snapshot()).version
        2
        """
        self.version += 1
        self.churn.version = self.version
        self.published_at = time.time()
        return pickle.dumps(self, protocol=pickle.HIGHEST_PROTOCOL)

    @classmethod
    def from_snapshot(cls, data: bytes) -> ModelBundle:
        """The bundle of :meth:`snapshot` bytes (only from our own trainer's topic).

        >>> import pickle
        >>> ModelBundle.from_snapshot(ModelBundle().snapshot()).version
        1
        >>> ModelBundle.from_snapshot(pickle.dumps({"not": "a bundle"}))
        Traceback (most recent call last):
        ...
        ValueError: not a ModelBundle snapshot
        """
        bundle = pickle.loads(data)  # trusted: written by Lifeline's trainer
        if not isinstance(bundle, cls):
            raise ValueError("not a ModelBundle snapshot")
        return bundle
