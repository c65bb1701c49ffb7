"""Champion / challenger: candidate scorers of one label, judged on a sliding window of labels.

Every resolved label is scored by every candidate *before* anything learns from it
(progressive validation) and kept in a window with each candidate's raw score and calibrated
probability. :meth:`Champion.evaluate` (on every snapshot, and on drift) computes each
candidate's window ROC AUC (exact, ties half) and log loss, switches the served candidate
when another one is better by ``margin`` (window AUCs averaged over the newest ``memory``
evaluations) and its lead on the current window is significant (``min_z`` standard errors
of DeLong's paired test), and refits each candidate's Platt calibration and the logistic
stack of all candidates on the window. With fewer than
``min_labels`` labels (or one class only) the ``default`` candidate serves.

Scores are logit-like: higher means the label (churn) is more likely. Pure: no Faust, no I/O;
state is plain data (:meth:`Champion.to_data`).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from typing import Any

import numpy as np
from scipy.stats import rankdata

from online_models.modeldata import numbers_finite

STACK = "stack"
MIN_SLOPE = 0.05  # a Platt refit flatter than this keeps the previous calibration
Metrics = dict[str, dict[str, float | int | None]]
_CLIP = 30.0


def _sigmoid(z: float) -> float:
    z = max(-_CLIP, min(_CLIP, z))
    return 1.0 / (1.0 + math.exp(-z))


def window_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """Exact ROC AUC (Mann-Whitney, ties count half); NaN with one class only.

    >>> window_auc(np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1]))
    0.75
    """
    y = labels.astype(bool)
    pos, neg = int(y.sum()), int((~y).sum())
    if not pos or not neg:
        return math.nan
    ranks = rankdata(scores)
    return float((ranks[y].sum() - pos * (pos + 1) / 2) / (pos * neg))


def _placements(scores: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong's placement values: for each positive the share of negatives it outranks, for
    each negative the share of positives that outrank it (ties half)."""
    pos, neg = int(y.sum()), int((~y).sum())
    ranks = rankdata(scores)
    v10 = (ranks[y] - rankdata(scores[y])) / neg
    v01 = 1.0 - (ranks[~y] - rankdata(scores[~y])) / pos
    return v10, v01


def paired_z(a: np.ndarray, b: np.ndarray, labels: np.ndarray) -> float:
    """``(AUC(a) - AUC(b)) / SE`` of two scores of the same labels, SE by DeLong, DeLong &
    Clarke-Pearson (1988), which counts how correlated the two rankings are; NaN with one
    class only, +-inf when the difference is exact.

    >>> y = np.array([0, 0, 0, 1, 1, 1] * 50)
    >>> good = y + np.tile([0.5, 0.9, 0.2, 0.1, 0.7, 0.3], 50)
    >>> round(paired_z(good, np.tile([0.3, 0.5, 0.2, 0.1, 0.6, 0.4], 50), y), 1)
    12.2
    """
    y = labels.astype(bool)
    m, n = int(y.sum()), int((~y).sum())
    if not m or not n:
        return math.nan
    a10, a01 = _placements(a, y)
    b10, b01 = _placements(b, y)
    d10, d01 = a10 - b10, a01 - b01
    diff = float(d10.mean())
    var = (float(d10.var(ddof=1)) / m if m > 1 else 0.0) + \
        (float(d01.var(ddof=1)) / n if n > 1 else 0.0)
    if var <= 0:
        return math.copysign(math.inf, diff) if diff else 0.0
    return diff / math.sqrt(var)


def logistic_fit(z: np.ndarray, y: np.ndarray, *, l2: float = 1e-3,
                 iterations: int = 30) -> list[float]:
    """Weights ``[intercept, w_1, ...]`` of a ridge logistic regression (Newton steps).

    >>> w = logistic_fit(np.array([[-2.0], [-1.0], [1.0], [2.0], [0.5], [-0.5]]),
    ...                  np.array([0, 0, 1, 1, 0, 1]))
    >>> w[1] > 0
    True
    """
    if z.ndim != 2 or z.shape[0] != y.shape[0]:
        raise ValueError("z must be (n, k) and y (n,)")
    X = np.column_stack([np.ones(len(y)), z])
    w = np.zeros(X.shape[1])
    ridge = l2 * len(y) * np.eye(X.shape[1])
    ridge[0, 0] = 0.0
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-np.clip(X @ w, -_CLIP, _CLIP)))
        grad = X.T @ (p - y) + ridge @ w
        hess = (X * (p * (1 - p))[:, None]).T @ X + ridge + 1e-9 * np.eye(X.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if float(np.max(np.abs(step))) < 1e-8:
            break
    return [float(v) for v in w]


# Why the candidates were judged: on a snapshot, on drift, or on a window of labels.
REASONS = ("window", "snapshot", "drift")


class Champion:
    """Keeps candidates' window metrics and decides which one serves (or their stack).

    Parameters
    ----------
    names
        Candidate names (scores passed to :meth:`update` / :meth:`serve` by these keys).
    default
        Serves while the window has fewer than ``min_labels`` labels or one class only.
    window
        Labels in the sliding window (2,000: window AUC standard error about 0.01).
    min_labels
        Labels needed before anything else than ``default`` may serve.
    margin
        A challenger must beat the serving candidate's window AUC by this much (0.005 let
        two close candidates, the learner and the stack, swap 20 times on CDNOW).
    stack
        Also keep a logistic stack of all candidates (refit on the window at each evaluation,
        scored progressively between evaluations).
    memory
        The switching rule compares each candidate's window AUC averaged over the newest
        ``memory`` evaluations with enough labels (1: the current window only).
    min_z
        ... and the challenger's lead on the current window must also be significant: at
        least ``min_z`` standard errors (DeLong's paired test, :func:`paired_z`).

    >>> ch = Champion(["prior", "learner"], default="prior", window=200, min_labels=50)
    >>> ch.serving
    'prior'
    >>> import random; rng = random.Random(1)
    >>> for i in range(300):
    ...     y = rng.random() < 0.5
    ...     ch.update({"prior": rng.gauss(0, 1), "learner": 2 * y + rng.gauss(0, 1)}, int(y))
    >>> ch.evaluate({"prior": True, "learner": True}), ch.serving
    (True, 'learner')
    >>> 0 < ch.serve({"prior": 0.0, "learner": 3.0}) < 1
    True
    """

    def __init__(self, names: Sequence[str], *, default: str, window: int = 2000,
                 min_labels: int = 300, margin: float = 0.01, stack: bool = True,
                 memory: int = 1, min_z: float = 0.0) -> None:
        names = [str(n) for n in names]
        if not names or len(set(names)) != len(names) or STACK in names:
            raise ValueError(f"need distinct candidate names (not {STACK!r})")
        if default not in names:
            raise ValueError("default must be one of the names")
        if window < 10 or not 1 <= min_labels <= window or not 0 <= margin < 1 or memory < 1 \
                or not 0 <= min_z < 100:
            raise ValueError("need window >= 10, 1 <= min_labels <= window, 0 <= margin < 1, "
                             "memory >= 1, 0 <= min_z < 100")
        self.names = names
        self.default = default
        self.window, self.min_labels, self.margin = window, min_labels, margin
        self.stack = stack
        self.memory, self.min_z = memory, min_z
        self.recent: dict[str, deque[float]] = {n: deque(maxlen=memory) for n in self.all_names}
        self.serving = default
        self.rows: deque[list[float]] = deque(maxlen=window)  # [y, z..., p...]
        # Each row and, once to_data wrote it, its rounding to 4 decimals (rounded only once).
        self._rounded: deque[list[Any]] = deque(maxlen=window)
        self.platt: dict[str, list[float]] = {n: [0.0, 1.0] for n in self.all_names}
        self.stack_w: list[float] = [0.0] * (len(names) + 1)
        self.labels = 0
        self.evaluations = 0
        self.history: list[dict[str, Any]] = []
        self.last: Metrics = {}

    @property
    def all_names(self) -> list[str]:
        """Candidate names, with ``stack`` last when kept.

        >>> Champion(["a"], default="a").all_names
        ['a', 'stack']
        """
        return self.names + ([STACK] if self.stack else [])

    def _zs(self, scores: Mapping[str, float],
            stack_w: Sequence[float] | None = None) -> list[float]:
        zs = []
        for n in self.names:
            z = float(scores[n])
            zs.append(max(-_CLIP, min(_CLIP, z)) if math.isfinite(z) else 0.0)
        if self.stack:
            w = self.stack_w if stack_w is None else stack_w
            zs.append(w[0] + sum(wi * zi for wi, zi in zip(w[1:], zs, strict=True)))
        return zs

    def _calibrated(self, name: str, z: float,
                    platt: Mapping[str, Sequence[float]] | None = None) -> float:
        b, a = (self.platt if platt is None else platt)[name]
        return min(1 - 1e-6, max(1e-6, _sigmoid(b + a * z)))

    def update(self, scores: Mapping[str, float], y: int, *,
               stack_w: Sequence[float] | None = None,
               platt: Mapping[str, Sequence[float]] | None = None) -> None:
        """Add one resolved label with every candidate's score (taken before learning it).

        ``stack_w`` / ``platt``: the stack weights and calibrations in force when the label's
        features were taken (default: the current ones), see :mod:`online_models.asof`.

        >>> ch = Champion(["a"], default="a", stack=False)
        >>> ch.update({"a": 0.0}, 1); ch.labels
        1
        >>> ch.update({}, 1)
        Traceback (most recent call last):
        ...
        ValueError: scores must cover ['a'] and y be 0 or 1
        """
        if y not in (0, 1) or any(n not in scores for n in self.names):
            raise ValueError(f"scores must cover {self.names} and y be 0 or 1")
        zs = self._zs(scores, stack_w)
        ps = [self._calibrated(n, z, platt) for n, z in zip(self.all_names, zs, strict=True)]
        self._append([float(y), *zs, *ps])
        self.labels += 1

    def _append(self, row: list[float]) -> None:
        self.rows.append(row)
        self._rounded.append([row, None])

    def _rounded_rows(self) -> list[list[float]]:
        """The window rows to 4 decimals, each row rounded once (the window keeps most rows
        from one snapshot to the next)."""
        cached = self._rounded
        if len(cached) != len(self.rows) or any(
                row is not c[0] for row, c in zip(self.rows, cached, strict=True)):
            cached.clear()  # rows put in by other means than _append
            cached.extend([row, None] for row in self.rows)
        out = []
        for c in cached:
            if c[1] is None:
                c[1] = [round(v, 4) for v in c[0]]
            out.append(list(c[1]))
        return out

    def needs(self) -> list[str]:
        """Candidate scores :meth:`serve` needs now (all of them for the stack).

        >>> Champion(["a", "b"], default="b").needs()
        ['b']
        """
        return list(self.names) if self.serving == STACK else [self.serving]

    def serve(self, scores: Mapping[str, float], *, serving: str | None = None,
              stack_w: Sequence[float] | None = None,
              platt: Mapping[str, Sequence[float]] | None = None) -> float:
        """The calibrated probability of the serving candidate (scores: at least :meth:`needs`).

        ``serving`` / ``stack_w`` / ``platt`` replace the current ones (an earlier state).

        >>> ch = Champion(["a", "b"], default="b")
        >>> ch.serve({"b": 0.0}), round(ch.serve({"a": 2.0}, serving="a"), 4)
        (0.5, 0.8808)
        """
        name = self.serving if serving is None else serving
        if name == STACK:
            return self._calibrated(STACK, self._zs(scores, stack_w)[-1], platt)
        z = float(scores[name])
        return self._calibrated(name, max(-_CLIP, min(_CLIP, z)) if math.isfinite(z) else 0.0,
                                platt)

    def metrics(self) -> Metrics:
        """Window AUC / log loss per candidate at the last evaluation (None: undefined).

        >>> Champion(["a"], default="a").metrics()
        {}
        """
        return {n: dict(v) for n, v in self.last.items()}

    def _measure(self) -> tuple[np.ndarray, Metrics]:
        data = np.array(self.rows, dtype=float).reshape(-1, 1 + 2 * len(self.all_names))
        y = data[:, 0]
        k = len(self.all_names)
        out: Metrics = {}
        for i, n in enumerate(self.all_names):
            z, p = data[:, 1 + i], np.clip(data[:, 1 + k + i], 1e-6, 1 - 1e-6)
            auc = window_auc(z, y)
            ll = float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))) if len(y) else math.nan
            out[n] = {"auc": round(auc, 4) if math.isfinite(auc) else None,
                      "logloss": round(ll, 4) if math.isfinite(ll) else None,
                      "labels": len(y)}
        return data, out

    def evaluate(self, mature: Mapping[str, bool] | None = None, *, reason: str = "window",
                 ) -> bool:
        """Judge the window: maybe switch (True when it did), then recalibrate and restack.

        ``mature`` maps candidate names to whether they may serve (missing: yes); the stack
        may serve only when every candidate is mature.

        >>> ch = Champion(["a", "b"], default="a", min_labels=10)
        >>> ch.evaluate(), ch.serving, ch.history  # too few labels: the default serves
        (False, 'a', [])
        """
        if reason not in REASONS:
            raise ValueError(f"reason must be one of {REASONS}, got {reason!r}")
        mature = dict(mature or {})
        eligible = [n for n in self.all_names
                    if (mature.get(n, True) if n != STACK else all(mature.values()))]
        self.evaluations += 1
        data, measured = self._measure()
        self.last = measured
        y = data[:, 0]
        enough = len(y) >= self.min_labels and 0 < y.sum() < len(y)
        before = self.serving
        if not enough:
            choice = self.default
        else:
            for n in self.all_names:
                if (a := measured[n]["auc"]) is not None:
                    self.recent[n].append(float(a))
            auc = {n: float(np.mean(self.recent[n])) for n in eligible if self.recent[n]}
            best = max(auc, key=auc.__getitem__, default=self.default)
            current = auc.get(self.serving, -math.inf) if self.serving in eligible else -math.inf
            choice = best if auc.get(best, -math.inf) > current + self.margin else self.serving
            if choice != self.serving and self.serving in eligible and self.min_z > 0:
                col = {n: 1 + i for i, n in enumerate(self.all_names)}
                lead = paired_z(data[:, col[choice]], data[:, col[self.serving]], y)
                if not lead >= self.min_z:
                    choice = self.serving
            self._refit(data)
            if self.platt[choice][1] < MIN_SLOPE:  # never serve a candidate calibrated flat
                choice = before if self.platt[before][1] >= MIN_SLOPE else self.default
        self.serving = choice
        if choice != before:
            self.history.append({"label": self.labels, "from": before, "to": choice,
                                 "reason": reason})
            del self.history[:-20]
        return choice != before

    def _refit(self, data: np.ndarray) -> None:
        y = data[:, 0]
        k = len(self.all_names)
        base = data[:, 1:1 + len(self.names)]
        if self.stack:
            self.stack_w = logistic_fit(base, y, l2=1e-3)
            w = np.array(self.stack_w)
            stack_z = w[0] + base @ w[1:]
        for i, n in enumerate(self.all_names):
            z = stack_z if (self.stack and i == k - 1) else data[:, 1 + i]
            b, a = logistic_fit(z[:, None], y, l2=1e-4)
            # A (nearly) flat refit would erase the ranking: on a window where a candidate
            # barely ranks (early CDNOW: window AUC 0.53) the slope fell to 1e-13 and every
            # risk became one number. Keep the previous calibration then.
            if a >= MIN_SLOPE:
                self.platt[n] = [b, a]

    def to_data(self) -> dict[str, Any]:
        """Plain data: settings, window rows (scores and probabilities to 4 decimals: about
        90 bytes a row as JSON), calibrations, stack weights, decisions.

        >>> d = Champion(["a"], default="a").to_data()
        >>> d["serving"], d["rows"], d["platt"]
        ('a', [], {'a': [0.0, 1.0], 'stack': [0.0, 1.0]})
        """
        return {"kind": "champion", "schema": 1,
                "names": list(self.names), "default": self.default, "window": self.window,
                "min_labels": self.min_labels, "margin": self.margin, "stack": self.stack,
                "memory": self.memory, "min_z": self.min_z,
                "recent": {n: list(v) for n, v in self.recent.items()},
                "serving": self.serving, "rows": self._rounded_rows(),
                "platt": {n: list(v) for n, v in self.platt.items()},
                "stack_w": list(self.stack_w), "labels": self.labels,
                "evaluations": self.evaluations, "history": [dict(h) for h in self.history],
                "last": self.metrics()}

    @classmethod
    def from_data(cls, d: object) -> Champion:
        """The champion of :meth:`to_data`; ``ValueError`` on bad data.

        >>> ch = Champion(["a", "b"], default="a")
        >>> ch.update({"a": 1.0, "b": 0.5}, 1)
        >>> Champion.from_data(ch.to_data()).to_data() == ch.to_data()
        True
        >>> Champion.from_data({**ch.to_data(), "serving": "zzz"})
        Traceback (most recent call last):
        ...
        ValueError: bad champion data: serving must be a candidate
        """
        if not isinstance(d, dict):
            raise ValueError("bad champion data: not a dict")
        if d.get("kind") != "champion" or d.get("schema") != 1:
            raise ValueError("bad champion data: kind 'champion', schema 1 expected")
        try:
            if not isinstance(d["stack"], bool):
                raise ValueError("stack must be true or false")
            history = d["history"]
            names = {*d["names"], STACK} if isinstance(d["names"], list) else set()
            if not isinstance(history, list) or not all(
                    isinstance(h, dict) and set(h) == {"label", "from", "to", "reason"}
                    and isinstance(h["label"], int) and not isinstance(h["label"], bool)
                    and h["label"] >= 0 and h["from"] in names and h["to"] in names
                    and h["reason"] in REASONS for h in history):
                raise ValueError("history must be a list of {label, from, to, reason}")
            ch = cls(d["names"], default=d["default"], window=_int(d["window"]),
                     min_labels=_int(d["min_labels"]), margin=_num(d["margin"]),
                     stack=d["stack"], memory=_int(d.get("memory", 1)),
                     min_z=_num(d.get("min_z", 0.0)))
            recent = d.get("recent", {})
            if not isinstance(recent, dict) or not set(recent) <= set(ch.all_names):
                raise ValueError("recent must map candidates to window AUCs")
            for n, aucs in recent.items():
                ch.recent[n].extend(_num(a) for a in aucs)
            if d["serving"] not in ch.all_names:
                raise ValueError("serving must be a candidate")
            ch.serving = str(d["serving"])
            width = 1 + 2 * len(ch.all_names)
            for row in _window_rows(d["rows"], width):
                ch._append(row)
            if set(d["platt"]) != set(ch.all_names):
                raise ValueError("platt must cover every candidate")
            ch.platt = {str(n): _nums(v, 2) for n, v in d["platt"].items()}
            ch.stack_w = _nums(d["stack_w"], len(ch.names) + 1)
            ch.labels, ch.evaluations = _int(d["labels"]), _int(d["evaluations"])
            ch.history = [dict(h) for h in history][-20:]
            ch.last = {str(n): {str(k): None if v is None else _num(v) for k, v in m.items()}
                       for n, m in dict(d.get("last", {})).items()}
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"bad champion data: {exc!r}") from exc
        except ValueError as exc:
            raise ValueError(f"bad champion data: {exc}") from exc
        return ch


def _num(v: Any) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ValueError(f"expected a finite number, got {v!r}")
    return float(v)


def _window_rows(rows: Any, width: int) -> list[list[float]]:
    """Stored window rows as floats, each checked: a list of ``width`` finite numbers, the
    first 0 or 1 (``ValueError`` if not). All rows at once when they are lists of plain ints
    and floats of one finite sum (then every number is finite); one by one otherwise."""
    if type(rows) is list and all(type(r) is list and len(r) == width and r[0] in (0, 1)
                                  for r in rows):
        flat = list(chain.from_iterable(rows))
        if numbers_finite(flat):
            return [r.copy() for r in rows] if {float}.issuperset(map(type, flat)) else \
                [list(map(float, r)) for r in rows]
    out = []
    for row in rows:
        if not isinstance(row, list) or len(row) != width or row[0] not in (0, 1):
            raise ValueError("window rows must be [y, scores..., probabilities...]")
        out.append([_num(v) for v in row])
    return out


def _int(v: Any) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"expected an int, got {v!r}")
    return v


def _nums(v: Iterable[Any], n: int) -> list[float]:
    out = [_num(x) for x in v]
    if len(out) != n:
        raise ValueError(f"expected {n} numbers")
    return out
