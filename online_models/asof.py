"""The churn scorers as they were: score a delayed label with what served when it was taken.

A churn label resolves ``H`` days after its feature snapshot was taken at ``t``. Scoring it with
today's learner and parameters would measure how well the models fit labels they have almost
seen; what the workers actually served at ``t`` came from the models of ``t``. The trainer
keeps a checkpoint of every scorer (learner, BG/NBD parameters, stack weights, calibrations,
which one served) every ``every_days`` of event time, for the last ``H`` + two checkpoints,
and :class:`online_models.champion.Champion` judges the candidates on the scores of the
checkpoint in force at ``t``: the progressive validation of delayed labels.

Pure: no Faust, no I/O.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Any

from online_models.champion import Champion
from online_models.churn import BgNbdParams
from online_models.learner import ChurnModel
from online_models.profile import DAY


@dataclass(frozen=True)
class Checkpoint:
    """The scorers in force from event time ``at`` on."""

    at: float
    learner: ChurnModel
    params: BgNbdParams
    serving: str
    stack_w: list[float]
    platt: dict[str, list[float]]


class AsOf:
    """Checkpoints of the scorers, one per ``every_days`` of event time.

    Parameters
    ----------
    horizon_days
        The label horizon H: checkpoints older than every label still to come are dropped.
    every_days
        Event time between checkpoints (7: about 16 small learner copies for H = 90 days).

    >>> from online_models.churn import CDNOW
    >>> ch = Champion(["a"], default="a")
    >>> asof = AsOf(horizon_days=30)
    >>> asof.maybe_take(0.0, ChurnModel(), CDNOW, ch)
    True
    >>> asof.maybe_take(DAY, ChurnModel(), CDNOW, ch)  # less than a week later
    False
    >>> asof.maybe_take(8 * DAY, ChurnModel(), CDNOW, ch), len(asof.checkpoints)
    (True, 2)
    >>> asof.at(DAY).at, asof.at(9 * DAY).at, asof.at(-5.0).at
    (0.0, 691200.0, 0.0)
    """

    def __init__(self, *, horizon_days: float, every_days: float = 7.0) -> None:
        if not (math.isfinite(horizon_days) and horizon_days > 0 and every_days > 0):
            raise ValueError("need finite horizon_days > 0 and every_days > 0")
        self.horizon_days, self.every_days = horizon_days, every_days
        self.checkpoints: list[Checkpoint] = []

    def maybe_take(self, clock: float, learner: ChurnModel, params: BgNbdParams,
                   champion: Champion) -> bool:
        """Checkpoint the scorers if ``every_days`` passed since the newest one; prune.

        >>> from online_models.churn import CDNOW
        >>> a = AsOf(horizon_days=7)
        >>> [a.maybe_take(d * DAY, ChurnModel(), CDNOW, Champion(["x"], default="x"))
        ...  for d in (0, 7, 14, 21, 28, 35)].count(True), len(a.checkpoints)
        (6, 4)
        """
        if self.checkpoints and clock - self.checkpoints[-1].at < self.every_days * DAY:
            return False
        self.checkpoints.append(Checkpoint(
            clock, copy.deepcopy(learner), params, champion.serving, list(champion.stack_w),
            {n: list(v) for n, v in champion.platt.items()}))
        oldest = clock - (self.horizon_days + 2 * self.every_days) * DAY
        while len(self.checkpoints) > 2 and self.checkpoints[1].at <= oldest:
            self.checkpoints.pop(0)
        return True

    def at(self, t: float) -> Checkpoint | None:
        """The checkpoint in force at ``t`` (the oldest kept one for older times).

        >>> AsOf(horizon_days=30).at(0.0) is None
        True
        """
        if not self.checkpoints:
            return None
        best = self.checkpoints[0]
        for cp in self.checkpoints:
            if cp.at > t:
                break
            best = cp
        return best

    def metrics(self) -> dict[str, Any]:
        """Checkpoints kept and the event times they span.

        >>> AsOf(horizon_days=30).metrics()
        {'checkpoints': 0}
        """
        out: dict[str, Any] = {"checkpoints": len(self.checkpoints)}
        if self.checkpoints:
            out["from"], out["to"] = self.checkpoints[0].at, self.checkpoints[-1].at
        return out
