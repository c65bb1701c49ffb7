"""Value segment: RFM scores from online, tie-aware quintiles, mapped onto the RFM grid.

Pure: no Faust, no I/O. One trainer calls :meth:`RFMScorer.learn_one`; every worker scores
with the published data (:meth:`RFMScorer.to_data`).

Why not running quantiles (River ``stats.Quantile``, P², used before): replayed on CDNOW
(``bench/rfm_cdnow.py``, no broker) they left 6 of the 11 segments empty, for two reasons.

* Ties. Frequency is a small integer and most buyers bought once: with 60 % at F = 1 the
  0.2 and 0.4 quantiles are both 1 and the 0.6 one ~1.5, so "1 + cut points below" gives
  F = 1 a score of 1, F = 2 and 3 a score of 4 and nobody a 2 or a 3: the F 2-3 columns of
  the grid (``potential``, ``need_attention``, part of ``hibernating``) stay empty.
* Memory. Cumulative quantiles describe every sample since the start. Recency grows as a
  cohort ages, so late in a replay they still reflect the first weeks (on CDNOW, where every
  customer joined in Q1 1997, the R cut points at 1997-09-30 were 13-106 days while every
  one-off buyer was >= 180 days old: all of them R = 1, i.e. ``lost``).

Here each dimension is a histogram of log-spaced bins (equal values share a bin) whose mass
is forgotten with a half-life in event time, so it describes the *current* buyers; and the
five classes are cut tie-aware (see ``_DecayedHistogram.edges``): a big tie fills one class
and the rest of the mass is re-split among the others.
"""

from __future__ import annotations

import bisect
import math
from typing import Any

from online_models import modeldata as md
from online_models.profile import DAY, UserState

SCORES = 5
_SCHEMA = 1
_MAX_BINS = 100_000  # a histogram of every amount up to 1e12 at resolution 0.02 has ~2,800

# (R score, F score) -> segment; the standard grid (R rows, F columns), see `grid_segment`.
_GRID: dict[int, tuple[str, str, str, str, str]] = {
    5: ("new_customers", "potential", "potential", "champions", "champions"),
    4: ("promising", "potential", "potential", "loyal", "loyal"),
    3: ("about_to_sleep", "about_to_sleep", "need_attention", "loyal", "loyal"),
    2: ("hibernating", "hibernating", "at_risk", "at_risk", "cant_lose"),
    1: ("lost", "hibernating", "at_risk", "at_risk", "cant_lose"),
}

VALUE_SEGMENTS = (
    "champions", "loyal", "potential", "new_customers", "promising", "need_attention",
    "about_to_sleep", "at_risk", "cant_lose", "hibernating", "lost",
)  # fmt: skip


def grid_segment(r_score: int, f_score: int) -> str:
    """Map an (R, F) score pair (1..5 each, 5 best) onto the standard RFM grid.

    ::

        R\\F   1               2               3               4          5
        5     new_customers   potential       potential       champions  champions
        4     promising       potential       potential       loyal      loyal
        3     about_to_sleep  about_to_sleep  need_attention  loyal      loyal
        2     hibernating     hibernating     at_risk         at_risk    cant_lose
        1     lost            hibernating     at_risk         at_risk    cant_lose

    This is the widely used R x F grid (``potential`` = potential loyalist), with ``lost``
    split off ``hibernating`` for the oldest one-off buyers (R=1, F=1).

    Raises
    ------
    ValueError
        If a score is outside 1..5.

    Examples
    --------
    >>> grid_segment(5, 5), grid_segment(1, 5), grid_segment(5, 1), grid_segment(1, 1)
    ('champions', 'cant_lose', 'new_customers', 'lost')
    """
    if r_score not in _GRID or not 1 <= f_score <= 5:
        raise ValueError(f"scores must be in 1..5, got r={r_score!r} f={f_score!r}")
    return _GRID[r_score][f_score - 1]


def rfm_inputs(state: UserState, at: float) -> tuple[float, float, float] | None:
    """Raw ``(recency_days, frequency, monetary)`` of a user at event time ``at``.

    Recency is days since the last purchase (0 if it is after ``at``), frequency the number
    of purchases, monetary the net revenue (after refunds). ``None`` for non-purchasers.

    Examples
    --------
    >>> rfm_inputs(UserState(purchases=2, revenue=30.0, last_purchase=0.0), 2 * DAY)
    (2.0, 2.0, 30.0)
    >>> rfm_inputs(UserState(), 0.0) is None
    True
    """
    if state.purchases <= 0 or state.last_purchase is None:
        return None
    recency = max(0.0, at - state.last_purchase) / DAY
    return recency, float(state.purchases), float(state.revenue)


def _bin(value: float, resolution: float) -> int:
    """Log-spaced bin of a value: equal values share a bin, bins are ~``resolution`` wide
    relative to the value (sign-symmetric, so net revenue after refunds may be negative)."""
    return round(math.copysign(math.log1p(abs(value)), value) / resolution)


class _DecayedHistogram:
    """Mass per log-spaced bin, forgotten with a half-life in event time.

    A mass learned at time ``t`` is stored as ``mass * 2 ** ((t - ref) / half-life)``: every
    older mass shrinks relative to it, without touching the stored bins. ``ref`` moves and
    the bins are rescaled only when the factor grows large, so an update is O(1).
    """

    def __init__(self, resolution: float, halflife_s: float | None) -> None:
        self.resolution, self.halflife_s = resolution, halflife_s
        self.bins: dict[int, float] = {}
        self.ref = self.clock = 0.0

    def update(self, value: float, mass: float, at: float | None) -> None:
        if self.halflife_s is None or at is None:
            scale = 2.0 ** ((self.clock - self.ref) / self.halflife_s) if self.halflife_s else 1.0
        else:
            if not self.bins:
                self.ref = self.clock = at
            self.clock = max(self.clock, at)
            if (self.clock - self.ref) / self.halflife_s > 60:  # rescale before overflow
                shrink = 2.0 ** (-(self.clock - self.ref) / self.halflife_s)
                floor = 1e-12 * sum(self.bins.values()) * shrink  # drop forgotten bins
                self.bins = {b: w * shrink for b, w in self.bins.items() if w * shrink > floor}
                self.ref = self.clock
            scale = 2.0 ** ((at - self.ref) / self.halflife_s)
        key = _bin(value, self.resolution)
        self.bins[key] = self.bins.get(key, 0.0) + mass * scale

    def edges(self, classes: int) -> list[int]:
        """Upper bins of the first ``classes - 1`` classes of a tie-aware split of the mass
        into ``classes`` contiguous classes as equal as possible (one bin is never split).

        Plain quantiles collapse on ties (if 60 % of buyers bought once, the 0.2, 0.4 and 0.6
        quantiles are all 1 and scores 2 and 3 are never given). Here each class takes bins
        in order until it is as close as it can get to an equal share of the mass *left*,
        so a big tie fills one class and the rest is re-split among the others.
        """
        ranked = sorted(self.bins.items())
        if not ranked:
            return []
        left = sum(w for _, w in ranked)
        edges, i = [], 0
        for c in range(classes - 1):
            target, acc = left / (classes - c), 0.0
            while i < len(ranked):
                w = ranked[i][1]
                starved = len(ranked) - i <= classes - 1 - c  # later classes need these
                if acc > 0 and (starved or abs(acc + w - target) >= abs(acc - target)):
                    break
                acc += w
                i += 1
            left -= acc
            edges.append(ranked[i - 1][0] if i else ranked[0][0] - 1)
        return edges


class RFMScorer:
    """RFM scores 1..5 from decayed, tie-aware quintiles of the buyers' raw R, F and M.

    Each of recency (days), frequency and monetary is a histogram of log-spaced bins
    (``resolution`` wide in ``log1p``; equal values share a bin) forgotten with a half-life
    of ``halflife_days`` in event time (the ``at`` of each sample; ``None``: never forget).
    The bins are split into five contiguous classes of mass as equal as ties allow; a
    value's score is its class (1..5); recency is reversed (the most recent buyers get R=5).
    Until ``min_samples`` samples were learned every score is 3 (the middle), so scoring
    works from the first event.

    Every buyer should weigh the same in the quantiles however often they are sampled:
    ``span`` is the time (days) a sample stands for, usually the time since the same
    buyer's previous sample. Its mass is ``1 - 0.5 ** (span / halflife_days)`` (``span``
    without a half-life), so a buyer sampled every 7 days and one sampled every 28 days
    carry the same total mass.

    Parameters
    ----------
    min_samples
        Learned samples needed before the quantiles are trusted.
    halflife_days
        Half-life of a sample's weight, in event time; ``None`` keeps every sample forever.
    resolution
        Width of a bin in ``log1p`` units (0.02: values within ~2 % may share a bin).

    Examples
    --------
    >>> rfm = RFMScorer(min_samples=5)
    >>> rfm.score(3.0, 1, 20.0)
    (3, 3, 3)
    >>> for i in range(100):
    ...     rfm.learn_one(float(i), 1 + i % 10, 10.0 * (i % 20))
    >>> rfm.score(1.0, 10, 500.0), rfm.score(99.0, 1, 0.0)
    ((5, 5, 5), (1, 1, 1))
    >>> rfm.value_segment(1.0, 10, 500.0), rfm.value_segment(50.0, 0, 0.0)
    ('champions', None)
    >>> RFMScorer.from_data(rfm.to_data()).score(1.0, 10, 500.0)
    (5, 5, 5)

    Ties: 60 % bought once, yet F = 2 and F = 3 get scores of their own.

    >>> rfm = RFMScorer(min_samples=5)
    >>> for f in [1] * 60 + [2] * 18 + [3] * 9 + [4] * 5 + [5] * 3 + [9] * 5:
    ...     rfm.learn_one(10.0, f, 50.0)
    >>> [rfm.score(10.0, f, 50.0)[1] for f in (1, 2, 3, 4, 5, 9)]
    [1, 2, 3, 4, 5, 5]
    """

    def __init__(
        self, *, min_samples: int = 20, halflife_days: float | None = 30.0,
        resolution: float = 0.02,
    ) -> None:
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        if halflife_days is not None and not halflife_days > 0:
            raise ValueError(f"halflife_days must be > 0 or None, got {halflife_days}")
        if not resolution > 0:
            raise ValueError(f"resolution must be > 0, got {resolution}")
        self.min_samples, self.halflife_days = min_samples, halflife_days
        self.n = 0
        halflife_s = None if halflife_days is None else halflife_days * DAY
        self._hist = {name: _DecayedHistogram(resolution, halflife_s) for name in ("r", "f", "m")}
        self._edges: dict[str, list[int]] = {}  # cache, dropped by learn_one

    def to_data(self) -> dict[str, Any]:
        """The scorer as data: configuration, sample count and the three decayed histograms
        (``[bin, mass]`` pairs in stored order, reference and latest time).

        >>> rfm = RFMScorer(min_samples=1)
        >>> rfm.learn_one(2.0, 1, 10.0, at=0.0)
        >>> h = rfm.to_data()["hist"]["f"]
        >>> h["ref"], h["clock"], [[b, round(w, 4)] for b, w in h["bins"]]
        (0.0, 0.0, [[35, 0.0228]])
        """
        return md.header(
            "rfm", _SCHEMA, min_samples=self.min_samples, halflife_days=self.halflife_days,
            resolution=self._hist["r"].resolution, n=self.n,
            hist={name: {"ref": h.ref, "clock": h.clock, "bins": [[b, w] for b, w in
                                                                   h.bins.items()]}
                  for name, h in self._hist.items()},
        )

    @classmethod
    def from_data(cls, d: Any) -> RFMScorer:
        """The scorer of :meth:`to_data`, checked (``ValueError`` on anything malformed).

        >>> rfm = RFMScorer()
        >>> RFMScorer.from_data(rfm.to_data()).score(3.0, 1, 20.0)
        (3, 3, 3)
        >>> RFMScorer.from_data({**rfm.to_data(), "hist": {}})
        Traceback (most recent call last):
        ...
        ValueError: rfm.hist: expected histograms r, f and m
        """
        d = md.check_header(d, "rfm", _SCHEMA)
        halflife = d.get("halflife_days")
        rfm = cls(min_samples=md.integer(d.get("min_samples"), "rfm.min_samples"),
                  halflife_days=None if halflife is None else md.num(halflife, "rfm.halflife"),
                  resolution=md.num(d.get("resolution"), "rfm.resolution"))
        rfm.n = md.integer(d.get("n"), "rfm.n")
        hists = md.obj(d.get("hist"), "rfm.hist")
        if set(hists) != set(rfm._hist):
            raise ValueError("rfm.hist: expected histograms r, f and m")
        for name, h in rfm._hist.items():
            data = md.obj(hists[name], f"rfm.hist.{name}")
            h.ref = md.num(data.get("ref"), f"rfm.hist.{name}.ref")
            h.clock = md.num(data.get("clock"), f"rfm.hist.{name}.clock", lo=h.ref)
            for pair in md.seq(data.get("bins"), f"rfm.hist.{name}.bins", max_len=_MAX_BINS):
                b, w = md.pair(pair, f"rfm.hist.{name}.bins[]")
                key = md.integer(b, f"rfm.hist.{name}.bin", lo=-(1 << 40), hi=1 << 40)
                h.bins[key] = md.num(w, f"rfm.hist.{name}.mass", lo=0)
        return rfm

    def learn_one(
        self, r: float, f: float, m: float, *, at: float | None = None, span: float = 1.0
    ) -> None:
        """Learn one buyer's recency (days), frequency and monetary value.

        ``at`` is the sample's event time (epoch seconds; ``None``: the newest time seen),
        ``span`` the days it stands for (see the class docstring).

        Raises
        ------
        ValueError
            If recency or frequency is negative, or ``span`` is not positive.

        Examples
        --------
        >>> rfm = RFMScorer()
        >>> rfm.learn_one(12.0, 3, 150.0, at=0.0, span=7.0)
        >>> rfm.n
        1
        """
        if r < 0 or f < 0:
            raise ValueError(f"recency and frequency must be >= 0, got r={r} f={f}")
        if not span > 0 or not all(map(math.isfinite, (r, f, m, span))):
            raise ValueError(f"need finite values and span > 0, got {r} {f} {m} span={span}")
        hl = self.halflife_days
        mass = span if hl is None else 1.0 - 0.5 ** (span / hl)
        for name, value in (("r", r), ("f", f), ("m", m)):
            self._hist[name].update(float(value), mass, at)
        self.n += 1
        self._edges = {}

    @property
    def ready(self) -> bool:
        """Whether ``min_samples`` samples have been learned (scores are not all 3).

        Examples
        --------
        >>> RFMScorer().ready
        False
        """
        return self.n >= self.min_samples

    def _class_edges(self, name: str) -> list[int]:
        if name not in self._edges:
            self._edges[name] = self._hist[name].edges(SCORES)
        return self._edges[name]

    def cut_points(self, name: str) -> list[float] | None:
        """The four class boundaries of ``'r'``, ``'f'`` or ``'m'`` (None while warming up).

        A value above the ``i``-th boundary is in class ``i + 2`` or higher; boundaries are
        the upper ends of the classes' highest bins, so they are approximate (bin width).

        Examples
        --------
        >>> RFMScorer().cut_points("r") is None
        True
        >>> rfm = RFMScorer(min_samples=1)
        >>> for f in (1, 1, 1, 2, 3, 4, 5):
        ...     rfm.learn_one(1.0, f, 1.0)
        >>> [round(c, 2) for c in rfm.cut_points("f")]
        [1.03, 2.03, 3.01, 4.0]
        """
        if name not in self._hist:
            raise ValueError(f"unknown dimension {name!r}; expected 'r', 'f' or 'm'")
        if not self.ready:
            return None
        res = self._hist[name].resolution
        return [math.copysign(math.expm1(abs(x)), x) for x in
                ((e + 0.5) * res for e in self._class_edges(name))]

    def _score(self, name: str, value: float) -> int:
        if not self.ready:
            return 3
        key = _bin(value, self._hist[name].resolution)
        return 1 + bisect.bisect_left(self._class_edges(name), key)  # edges ascend

    def score(self, r: float, f: float, m: float) -> tuple[int, int, int]:
        """``(R, F, M)`` scores in 1..5; R is reversed (recent = 5).

        Examples
        --------
        >>> RFMScorer().score(0.0, 1, 9.99)
        (3, 3, 3)
        """
        return 6 - self._score("r", r), self._score("f", f), self._score("m", m)

    def value_segment(self, r: float, f: float, m: float) -> str | None:
        """The RFM grid segment of raw values; ``None`` for a non-purchaser (``f <= 0``).

        Examples
        --------
        >>> RFMScorer().value_segment(10.0, 2, 80.0)
        'need_attention'
        """
        if f <= 0:
            return None
        r_score, f_score, _ = self.score(r, f, m)
        return grid_segment(r_score, f_score)
