"""Value segment: RFM scores from online quintiles, mapped onto the standard RFM grid.

Pure: no Faust, no I/O. One trainer calls :meth:`RFMScorer.learn_one`; every worker scores
with a pickled snapshot.
"""

from __future__ import annotations

from river import stats

from online_models.profile import DAY, UserState

QUINTILES = (0.2, 0.4, 0.6, 0.8)

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


class RFMScorer:
    """Quintile RFM scores learned online with River ``stats.Quantile`` (P² algorithm).

    Each of recency (days), frequency and monetary has four running quantile estimators
    (0.2, 0.4, 0.6, 0.8). A score is 1 + the number of cut points strictly below the value,
    so 1..5; recency is reversed (the most recent buyers get R=5). Until ``min_samples``
    purchasers have been learned every score is 3 (the middle), so scoring works from the
    first event.

    Parameters
    ----------
    min_samples
        Learned purchasers needed before the quantiles are trusted.

    Examples
    --------
    >>> import pickle
    >>> rfm = RFMScorer(min_samples=5)
    >>> rfm.score(3.0, 1, 20.0)
    (3, 3, 3)
    >>> for i in range(100):
    ...     rfm.learn_one(float(i), 1 + i % 10, 10.0 * (i % 20))
    >>> rfm.score(1.0, 10, 500.0), rfm.score(99.0, 1, 0.0)
    ((5, 5, 5), (1, 1, 1))
    >>> rfm.value_segment(1.0, 10, 500.0), rfm.value_segment(50.0, 0, 0.0)
    ('champions', None)
    >>> pickle.loads(pickle.dumps(rfm)).score(1.0, 10, 500.0)
    (5, 5, 5)
    """

    def __init__(self, *, min_samples: int = 20) -> None:
        if min_samples < 1:
            raise ValueError(f"min_samples must be >= 1, got {min_samples}")
        self.min_samples = min_samples
        self.n = 0
        self._cuts: dict[str, list[stats.Quantile]] = {
            name: [stats.Quantile(q) for q in QUINTILES] for name in ("r", "f", "m")
        }

    def learn_one(self, r: float, f: float, m: float) -> None:
        """Learn one purchaser's recency (days), frequency and monetary value.

        Raises
        ------
        ValueError
            If recency or frequency is negative.

        Examples
        --------
        >>> rfm = RFMScorer()
        >>> rfm.learn_one(12.0, 3, 150.0)
        >>> rfm.n
        1
        """
        if r < 0 or f < 0:
            raise ValueError(f"recency and frequency must be >= 0, got r={r} f={f}")
        for name, value in (("r", r), ("f", f), ("m", m)):
            for estimator in self._cuts[name]:
                estimator.update(float(value))
        self.n += 1

    @property
    def ready(self) -> bool:
        """Whether ``min_samples`` purchasers have been learned (scores are not all 3).

        Examples
        --------
        >>> RFMScorer().ready
        False
        """
        return self.n >= self.min_samples

    def cut_points(self, name: str) -> list[float] | None:
        """The four quintile cut points of ``'r'``, ``'f'`` or ``'m'`` (None while warming up).

        Examples
        --------
        >>> RFMScorer().cut_points("r") is None
        True
        """
        if name not in self._cuts:
            raise ValueError(f"unknown dimension {name!r}; expected 'r', 'f' or 'm'")
        if not self.ready:
            return None
        return [float(q.get() or 0.0) for q in self._cuts[name]]

    def _score(self, name: str, value: float) -> int:
        cuts = self.cut_points(name)
        if cuts is None:
            return 3
        return 1 + sum(value > c for c in cuts)

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
