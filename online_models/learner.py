"""The online churn learner (one trainer; many workers score with its published data).

Pure: no Faust, no I/O. ``learn_one`` does progressive validation: it scores the example first
(ROC AUC, log loss, drift detector on the per-example log loss), then learns from it.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from typing import Any

from river import compose, drift, linear_model, metrics, optim, preprocessing, stats, utils
from scipy import integrate

from online_models import modeldata as md

_EPS = 1e-6
_SCHEMA = 1
MAX_FEATURES = 256  # churn features a snapshot may carry (``churn_features`` has ~20)


def _clean(x: dict[str, Any]) -> dict[str, float]:
    out: dict[str, float] = {}
    isfinite = math.isfinite
    for k, v in x.items():
        if type(v) is float:  # the usual case, what churn features and learner inputs hold
            if isfinite(v):
                out[k if type(k) is str else str(k)] = v
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            continue
        f = float(v)
        if isfinite(f):
            out[str(k)] = f
    return out


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


class ThresholdAUC:
    """River's ``metrics.ROCAUC`` (the same thresholds, cells and value), updated in O(1).

    River's metric updates one confusion matrix per threshold on every example (50 of them
    here: a quarter of a learner step). This one counts each example once, in the bucket of
    how many thresholds its probability exceeds, and adds the buckets into the per-threshold
    cells (true negatives, false positives, false negatives, true positives) only when they
    are read: the same counts, so the same :meth:`get` and the same :meth:`cells`.

    >>> from river import metrics
    >>> ours, river = ThresholdAUC(20), metrics.ROCAUC(n_thresholds=20)
    >>> for y, p in [(0, 0.1), (0, 0.4), (1, 0.35), (1, 0.8), (1, 0.4)]:
    ...     ours.update(bool(y), p); river.update(bool(y), p)
    >>> ours.get() == float(river.get()), ours.cells()[8]  # threshold 8/19: only 0.8 above
    (True, [2.0, 0.0, 2.0, 1.0])
    """

    def __init__(self, n_thresholds: int = 50) -> None:
        if n_thresholds < 2:
            raise ValueError("need n_thresholds >= 2")
        self.n_thresholds = n_thresholds
        thresholds = [i / (n_thresholds - 1) for i in range(n_thresholds)]  # as River's
        thresholds[0] -= 1e-7
        thresholds[-1] += 1e-7
        self.thresholds = thresholds
        self._cells = [[0.0, 0.0, 0.0, 0.0] for _ in thresholds]  # [tn, fp, fn, tp] each
        self._pending: tuple[list[int], list[int]] = ([0] * (n_thresholds + 1),
                                                      [0] * (n_thresholds + 1))
        self._dirty = False

    def update(self, y_true: bool, p: float) -> None:
        """Count one probability ``p`` of the label ``y_true`` (predicted positive at each
        threshold below ``p``).

        >>> m = ThresholdAUC(3); m.update(True, 0.7)  # thresholds about 0, 0.5 and 1
        >>> m.cells()
        [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]
        """
        self._pending[1 if y_true else 0][bisect_left(self.thresholds, p)] += 1
        self._dirty = True

    def _fold(self) -> None:
        if not self._dirty:
            return
        for y, counts in enumerate(self._pending):
            below, above = 0, sum(counts)  # examples predicted negative / positive so far
            for i, cell in enumerate(self._cells):
                below += counts[i]  # counts[i]: exceeds thresholds 0 .. i - 1 only
                above -= counts[i]
                cell[2 * y] += below
                cell[2 * y + 1] += above
            counts[:] = [0] * len(counts)
        self._dirty = False

    def cells(self) -> list[list[float]]:
        """Per threshold ``[tn, fp, fn, tp]`` (River's ``cm.data[truth][predicted]``).

        >>> ThresholdAUC(2).cells()
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
        """
        self._fold()
        return [list(c) for c in self._cells]

    def load(self, cells: list[list[float]]) -> None:
        """Replace the counts with stored :meth:`cells` (one row of 4 per threshold).

        >>> m = ThresholdAUC(2); m.load([[1.0, 0.0, 0.0, 0.0], [1.0, 0.0, 0.0, 2.0]])
        >>> m.cells()[1]
        [1.0, 0.0, 0.0, 2.0]
        """
        if len(cells) != self.n_thresholds or any(len(r) != 4 for r in cells):
            raise ValueError("need 4 cells per threshold")
        self._cells = [[float(v) for v in r] for r in cells]
        for counts in self._pending:
            counts[:] = [0] * len(counts)
        self._dirty = False

    def get(self) -> float:
        """The thresholded ROC AUC, as River computes it (0.0 before any example).

        >>> ThresholdAUC().get() == 0.0
        True
        """
        self._fold()

        def safe_div(a: float, b: float) -> float:
            try:
                return a / b
            except ZeroDivisionError:
                return 0.0

        # River reads tn as (tn + tp) - tp, fp as (fp + tp) - tp, fn as (fn + tp) - tp: with
        # whole counts these are the cells themselves.
        tprs = [safe_div(tp, tp + fn) for _, _, fn, tp in self._cells]
        fprs = [safe_div(fp, fp + tn) for tn, fp, _, _ in self._cells]
        return float(-integrate.trapezoid(x=fprs, y=tprs))


class ChurnModel:
    """Standard scaling + logistic regression (SGD) on churn features, with live quality.

    Progressive validation (ROC AUC, log loss, base rate) and a Page-Hinkley drift detector on
    the per-example log loss run inside :meth:`learn_one`; :meth:`to_data` / :meth:`from_data`
    carry the whole learner as data (the trainer publishes it in the model bundle).

    Parameters
    ----------
    lr
        SGD learning rate (0.01 beat 0.05 and Adam on a synthetic year: AUC 0.86 vs 0.83 / 0.85;
        an ARF of 10 trees reached 0.86 at 13x the cost and without a linear explanation).
    l2
        L2 penalty of the logistic regression.
    prior
        Probability returned before the first example was learned.
    version
        Model version this learner was published as (the bundle sets it on every snapshot).
    drift_threshold
        Page-Hinkley threshold on the cumulative rise of the per-example log loss (only
        rises count as drift; 100 gave no false alarm on 20k stationary examples in 2 of 3
        seeds and caught a label flip within ~20 examples).

    Non-numeric or non-finite feature values are ignored, missing features contribute
    nothing and new ones are learned as they appear.

    >>> m = ChurnModel()
    >>> m.predict_proba_one({"recency_days": 3.0})
    0.5
    >>> for i in range(200):
    ...     m.learn_one({"recency_days": float(i % 60)}, int(i % 60 >= 30))
    >>> m.predict_proba_one({"recency_days": 55.0}) > m.predict_proba_one({"recency_days": 2.0})
    True
    >>> m.explain({"recency_days": 55.0})[0][0]
    'recency_days'
    >>> x = {"recency_days": 55.0}
    >>> ChurnModel.from_data(m.to_data()).predict_proba_one(x) == m.predict_proba_one(x)
    True
    """

    def __init__(
        self,
        *,
        lr: float = 0.01,
        l2: float = 1e-4,
        prior: float = 0.5,
        version: int = 0,
        drift_threshold: float = 100.0,
    ) -> None:
        if not (lr > 0 and l2 >= 0 and 0.0 < prior < 1.0 and version >= 0 and drift_threshold > 0):
            raise ValueError(
                "need lr > 0, l2 >= 0, 0 < prior < 1, version >= 0 and drift_threshold > 0"
            )
        self.prior, self.lr, self.l2, self.drift_threshold = prior, lr, l2, drift_threshold
        self.version = version
        classifier = linear_model.LogisticRegression(optimizer=optim.SGD(lr), l2=l2)
        self.model: compose.Pipeline = preprocessing.StandardScaler() | classifier
        self.auc = ThresholdAUC(n_thresholds=50)
        self.logloss = metrics.LogLoss()
        self.detector = drift.PageHinkley(mode="up", threshold=drift_threshold)
        self.examples = 0
        self.positives = 0
        self.drift_count = 0

    def _known(self, x: dict[str, Any]) -> dict[str, float]:
        """The clean features the scaler has seen: an unseen one scales to 0 and has no weight
        (same score), and River's scaler would add it to its variances (scoring is read-only
        here, so odd or forged inputs cannot grow a worker's model)."""
        seen = self.model["StandardScaler"].counts
        return {k: v for k, v in _clean(x).items() if k in seen}

    def predict_proba_one(self, x: dict[str, Any]) -> float:
        """Churn probability of ``x`` (the prior before any learning).

        >>> ChurnModel(prior=0.3).predict_proba_one({"recency_days": 40.0})
        0.3
        """
        if self.examples == 0:
            return self.prior
        return self._proba(_clean(x))

    def _proba(self, features: dict[str, float]) -> float:
        """The probability of clean features (``_clean``), the scaler's known ones only."""
        seen = self.model["StandardScaler"].counts
        proba = self.model.predict_proba_one({k: v for k, v in features.items() if k in seen})
        return min(1.0 - _EPS, max(_EPS, float(proba.get(True, 0.0))))

    def learn_one(self, x: dict[str, Any], y: int | bool) -> None:
        """Score ``x`` (metrics and drift detector), then learn the label ``y`` (0 or 1).

        >>> m = ChurnModel()
        >>> m.learn_one({"recency_days": 40.0}, 1)
        >>> m.metrics()["examples"], m.metrics()["logloss"]  # scored 0.5 before learning
        (1, 0.6931)
        """
        if y not in (0, 1) or not isinstance(y, (int, bool)):
            raise ValueError(f"label must be 0 or 1, got {y!r}")
        label = bool(y)
        features = _clean(x)
        p = self.prior if self.examples == 0 else self._proba(features)
        self.auc.update(label, p)
        self.logloss.update(label, p)
        self.detector.update(-math.log(p if label else 1.0 - p))
        if self.detector.drift_detected:
            self.drift_count += 1
        self.model.learn_one(features, label)
        self.examples += 1
        self.positives += int(label)

    def explain(self, x: dict[str, Any], top: int = 3) -> list[tuple[str, float]]:
        """Features that pushed the risk up most: ``weight * scaled value`` > 0, largest first.

        >>> ChurnModel().explain({"recency_days": 40.0})  # nothing learned, no reason
        []
        """
        if top < 1:
            raise ValueError("top must be >= 1")
        features = self._known(x)
        scaled = self.model["StandardScaler"].transform_one(features)
        weights = self.model["LogisticRegression"].weights
        contrib = [(k, weights.get(k, 0.0) * v) for k, v in scaled.items()]
        ranked = sorted((c for c in contrib if c[1] > 0), key=lambda c: -c[1])
        return [(k, round(c, 4)) for k, c in ranked[:top]]

    def metrics(self) -> dict[str, float | int]:
        """Live progressive-validation quality: auc, logloss, examples, drifts, version.

        >>> ChurnModel().metrics()
        {'auc': 0.0, 'logloss': 0.0, 'examples': 0, 'base_rate': 0.0, 'drifts': 0, 'version': 0}
        """
        return {
            "auc": round(float(self.auc.get()), 4) + 0.0,  # + 0.0: no -0.0
            "logloss": round(self.logloss.get(), 4),
            "examples": self.examples,
            "base_rate": round(self.positives / self.examples, 4) if self.examples else 0.0,
            "drifts": self.drift_count,
            "version": self.version,
        }

    def to_data(self) -> dict[str, Any]:
        """Everything the learner knows as data: configuration, scaler statistics, weights,
        optimizer step, quality metrics and drift detector (see :mod:`online_models.modeldata`).

        >>> m = ChurnModel()
        >>> m.learn_one({"recency_days": 40.0}, 1)
        >>> d = m.to_data()
        >>> d["kind"], d["scaler"]["means"], d["examples"]
        ('churn', {'recency_days': 40.0}, 1)
        """
        scaler: preprocessing.StandardScaler = self.model["StandardScaler"]
        classifier: linear_model.LogisticRegression = self.model["LogisticRegression"]
        detector = self.detector
        return md.header(
            "churn", _SCHEMA,
            config={"lr": self.lr, "l2": self.l2, "prior": self.prior,
                    "drift_threshold": self.drift_threshold},
            version=self.version, examples=self.examples, positives=self.positives,
            drifts=self.drift_count,
            scaler={"counts": {k: int(v) for k, v in scaler.counts.items()},
                    "means": dict(scaler.means), "vars": dict(scaler.vars)},
            weights=classifier.weights, intercept=float(classifier.intercept),
            iterations=int(classifier.optimizer.n_iterations),
            auc=self.auc.cells(),
            logloss=[self.logloss._mean.n, self.logloss._mean.get()],
            detector={"n": detector._x_mean.n, "mean": detector._x_mean.get(),
                      "sum_increase": detector._sum_increase,
                      "sum_decrease": detector._sum_decrease,
                      "min_increase": _finite_or_none(detector._min_increase),
                      "max_decrease": _finite_or_none(detector._max_decrease),
                      "detected": detector.drift_detected},
        )

    @classmethod
    def from_data(cls, d: Any) -> ChurnModel:
        """The learner of :meth:`to_data`, checked (``ValueError`` on anything malformed).

        >>> m = ChurnModel(prior=0.3)
        >>> ChurnModel.from_data(m.to_data()).predict_proba_one({"recency_days": 9.0})
        0.3
        >>> ChurnModel.from_data({**m.to_data(), "examples": -1})
        Traceback (most recent call last):
        ...
        ValueError: churn.examples: -1 is outside [0, 9007199254740992]
        """
        d = md.check_header(d, "churn", _SCHEMA)
        c = md.obj(d.get("config"), "churn.config")
        model = cls(lr=md.num(c.get("lr"), "churn.config.lr"),
                    l2=md.num(c.get("l2"), "churn.config.l2"),
                    prior=md.num(c.get("prior"), "churn.config.prior"),
                    version=md.integer(d.get("version"), "churn.version"),
                    drift_threshold=md.num(c.get("drift_threshold"), "churn.config.drift"))
        model.examples = md.integer(d.get("examples"), "churn.examples")
        model.positives = md.integer(d.get("positives"), "churn.positives", hi=model.examples)
        model.drift_count = md.integer(d.get("drifts"), "churn.drifts")
        s = md.obj(d.get("scaler"), "churn.scaler")
        scaler: preprocessing.StandardScaler = model.model["StandardScaler"]
        counts = md.num_map(s.get("counts"), "churn.scaler.counts", max_len=MAX_FEATURES, lo=0)
        scaler.counts.update({k: int(v) for k, v in counts.items()})
        scaler.means.update(md.num_map(s.get("means"), "churn.scaler.means",
                                       max_len=MAX_FEATURES))
        scaler.vars.update(md.num_map(s.get("vars"), "churn.scaler.vars", max_len=MAX_FEATURES,
                                      lo=0))
        classifier: linear_model.LogisticRegression = model.model["LogisticRegression"]
        classifier._weights = utils.VectorDict(
            md.num_map(d.get("weights"), "churn.weights", max_len=MAX_FEATURES))
        classifier.intercept = md.num(d.get("intercept"), "churn.intercept")
        classifier.optimizer.n_iterations = md.integer(d.get("iterations"), "churn.iterations")
        n_thresholds = model.auc.n_thresholds
        cells = md.seq(d.get("auc"), "churn.auc", max_len=n_thresholds)
        if len(cells) != n_thresholds:
            raise ValueError(f"churn.auc: {len(cells)} thresholds, expected {n_thresholds}")
        rows = []
        for row in cells:
            row = md.seq(row, "churn.auc[]", max_len=4)
            if len(row) != 4:
                raise ValueError("churn.auc[]: expected 4 cells (tn, fp, fn, tp)")
            rows.append([md.num(w, "churn.auc[][]", lo=0, hi=model.examples) for w in row])
        model.auc.load(rows)
        n, mean = md.pair(d.get("logloss"), "churn.logloss")
        model.logloss._mean = stats.Mean._from_state(md.num(n, "churn.logloss.n", lo=0),
                                                     md.num(mean, "churn.logloss.mean", lo=0))
        det = md.obj(d.get("detector"), "churn.detector")
        detector = model.detector
        detector._x_mean = stats.Mean._from_state(md.num(det.get("n"), "churn.detector.n", lo=0),
                                                  md.num(det.get("mean"), "churn.detector.mean"))
        for name in ("sum_increase", "sum_decrease"):
            setattr(detector, f"_{name}", md.num(det.get(name), f"churn.detector.{name}"))
        for name, unset in (("min_increase", math.inf), ("max_decrease", -math.inf)):
            value = det.get(name)  # None: not set yet (River starts it at +-inf)
            setattr(detector, f"_{name}",
                    unset if value is None else md.num(value, f"churn.detector.{name}"))
        if not isinstance(det.get("detected"), bool):
            raise ValueError("churn.detector.detected: expected a boolean")
        detector._drift_detected = det["detected"]
        return model


class Calibration:
    """Reliability table: predicted-probability bins -> mean predicted, observed rate, count.

    Parameters
    ----------
    bins
        Number of equal-width probability bins.

    >>> cal = Calibration(bins=2)
    >>> for p, y in [(0.1, 0), (0.2, 1), (0.9, 1), (0.8, 1)]:
    ...     cal.update(p, y)
    >>> cal.table()[1]
    {'lo': 0.5, 'hi': 1.0, 'mean_predicted': 0.85, 'observed': 1.0, 'count': 2}
    >>> cal.ece()
    0.25
    """

    def __init__(self, bins: int = 10) -> None:
        if bins < 1:
            raise ValueError("bins must be >= 1")
        self.bins = bins
        self._n = [0] * bins
        self._p = [0.0] * bins
        self._y = [0] * bins

    def update(self, p: float, y: int | bool) -> None:
        """Add one prediction ``p`` in [0, 1] with its label ``y`` (0 or 1).

        >>> cal = Calibration(bins=4)
        >>> cal.update(0.3, 1)
        >>> cal.table()[0]["count"]
        1
        """
        if not 0.0 <= p <= 1.0 or y not in (0, 1):
            raise ValueError("need 0 <= p <= 1 and y in (0, 1)")
        i = min(self.bins - 1, int(p * self.bins))
        self._n[i] += 1
        self._p[i] += p
        self._y[i] += int(y)

    def table(self) -> list[dict[str, float | int]]:
        """One row per non-empty bin, lowest first.

        >>> Calibration().table()
        []
        """
        rows: list[dict[str, float | int]] = []
        for i, n in enumerate(self._n):
            if n:
                rows.append({
                    "lo": round(i / self.bins, 4),
                    "hi": round((i + 1) / self.bins, 4),
                    "mean_predicted": round(self._p[i] / n, 4),
                    "observed": round(self._y[i] / n, 4),
                    "count": n,
                })
        return rows

    def ece(self) -> float:
        """Expected calibration error: count-weighted mean |mean predicted - observed|.

        >>> cal = Calibration()
        >>> cal.update(0.9, 1)
        >>> cal.ece()
        0.1
        """
        total = sum(self._n)
        if not total:
            return 0.0
        gap = sum(abs(self._p[i] - self._y[i]) for i in range(self.bins) if self._n[i])
        return round(gap / total, 4)

    def to_data(self) -> dict[str, Any]:
        """The table as data.

        >>> Calibration(bins=2).to_data()
        {'kind': 'calibration', 'schema': 1, 'n': [0, 0], 'p': [0.0, 0.0], 'y': [0, 0]}
        """
        return md.header("calibration", _SCHEMA, n=list(self._n), p=list(self._p),
                         y=list(self._y))

    @classmethod
    def from_data(cls, d: Any) -> Calibration:
        """The table of :meth:`to_data`, checked.

        >>> cal = Calibration(bins=4)
        >>> cal.update(0.3, 1)
        >>> Calibration.from_data(cal.to_data()).table() == cal.table()
        True
        >>> Calibration.from_data({**cal.to_data(), "y": [5, 0, 0, 0]})
        Traceback (most recent call last):
        ...
        ValueError: calibration: a bin has more positives or mass than examples
        """
        d = md.check_header(d, "calibration", _SCHEMA)
        n = [md.integer(v, "calibration.n") for v in md.seq(d.get("n"), "calibration.n",
                                                             max_len=1000)]
        p = [md.num(v, "calibration.p", lo=0) for v in md.seq(d.get("p"), "calibration.p")]
        y = [md.integer(v, "calibration.y") for v in md.seq(d.get("y"), "calibration.y")]
        if not n or len(p) != len(n) or len(y) != len(n):
            raise ValueError("calibration: n, p and y must be non-empty and of one length")
        if any(yi > ni or pi > ni for ni, pi, yi in zip(n, p, y, strict=True)):
            raise ValueError("calibration: a bin has more positives or mass than examples")
        cal = cls(bins=len(n))
        cal._n, cal._p, cal._y = n, p, y
        return cal
