"""Segment evaluation: lifecycle, value and interest of one user -> ``segment-changes``.

``(state, at) -> (state, changes)``: :func:`evaluate_segments` updates ``state.segments`` in
place and returns one change message per dimension that moved. Models are only read here;
learning them is the trainer's job (see ``rfm_inputs`` and ``InterestModel.learn_one``).

Pure: no Faust, no I/O.
"""

from __future__ import annotations

import hashlib

from online_models.contract import iso
from online_models.interest import InterestModel
from online_models.lifecycle import LifecyclePolicy, next_lifecycle
from online_models.messages import SegmentChange
from online_models.profile import UserState
from online_models.rfm import RFMScorer, grid_segment, rfm_inputs

DIMENSIONS = ("lifecycle", "value", "interest")


def change_id(user_id: str, dimension: str, old: str | None, new: str | None, at: str) -> str:
    """Deterministic id of a segment change: blake2b-128 of ``user|dimension|from|to|at``.

    ``None`` is written as the empty string; ``at`` is the ISO-8601 time of the change.

    Examples
    --------
    >>> change_id("u1", "lifecycle", "new", "active", "2026-01-01T00:00:00Z")
    '1e4bf493aa2ac7f75529d95100d0576b'
    """
    key = "|".join((user_id, dimension, old or "", new or "", at))
    return hashlib.blake2b(key.encode(), digest_size=16).hexdigest()


def _value(state: UserState, at: float, rfm: RFMScorer) -> tuple[str | None, str]:
    inputs = rfm_inputs(state, at)
    if inputs is None:
        return None, "no_purchase_yet"
    if not rfm.ready:
        return None, "rfm_warming_up"
    r_score, f_score, m_score = rfm.score(*inputs)  # scored once: f >= 1 for a buyer
    return grid_segment(r_score, f_score), f"rfm_{r_score}{f_score}{m_score}"


def _interest(state: UserState, interest: InterestModel) -> tuple[str | None, str]:
    cluster = interest.assign(state.affinity)
    if cluster is None:
        return None, "no_interest_profile" if not state.affinity else "model_warming_up"
    return interest.label(cluster), f"cluster_{cluster}"


def evaluate_segments(
    user_id: str,
    state: UserState,
    at: float,
    *,
    lifecycle_policy: LifecyclePolicy,
    rfm: RFMScorer,
    interest: InterestModel,
) -> list[SegmentChange]:
    """Place a user in every segment dimension at event time ``at``; return the changes.

    Dimensions: ``lifecycle`` (always set), ``value`` (RFM grid segment; absent for
    non-purchasers and while ``rfm`` warms up) and ``interest`` (label of the user's
    interest cluster; absent without an affinity profile or while the model warms up).
    ``state.segments`` is updated in place (a dimension that becomes undetermined is
    removed) and each change is returned as a ``segment-changes`` message
    (:class:`~online_models.messages.SegmentChange`) with ``at`` in ISO-8601 UTC (``Z``) and
    a deterministic ``change_id``.

    Idempotent: evaluating again at the same ``at`` with the same state and models returns
    ``[]``. An evaluation earlier than the latest one (``state.lifecycle_evaluated_at``) changes
    nothing and returns ``[]``: time never moves backwards.

    Examples
    --------
    >>> from online_models.profile import DAY
    >>> s = UserState(purchases=1, revenue=20.0, first_purchase=0.0, last_purchase=0.0,
    ...               affinity={"shoes": 5.0})
    >>> kw = dict(lifecycle_policy=LifecyclePolicy(), rfm=RFMScorer(), interest=InterestModel())
    >>> [(c.dimension, c.from_segment, c.to_segment)
    ...  for c in evaluate_segments("u1", s, DAY, **kw)]
    [('lifecycle', None, 'new')]
    >>> evaluate_segments("u1", s, DAY, **kw)
    []
    >>> change = evaluate_segments("u1", s, 50 * DAY, **kw)[0]
    >>> change.from_segment, change.to_segment, change.at, change.reason
    ('new', 'at_risk', '1970-02-20T00:00:00Z', 'no_purchase_45d')
    """
    last_at = state.lifecycle_evaluated_at
    if last_at is not None and at < float(last_at):
        return []
    lifecycle, lifecycle_reason = next_lifecycle(
        state.segments.get("lifecycle"), state, at, lifecycle_policy
    )
    found = {
        "lifecycle": (lifecycle, lifecycle_reason),
        "value": _value(state, at, rfm),
        "interest": _interest(state, interest),
    }
    stamp = ""  # formatted only when something changed (most evaluations change nothing)
    changes: list[SegmentChange] = []
    for dimension in DIMENSIONS:
        new, reason = found[dimension]
        old = state.segments.get(dimension)
        if new == old:
            continue
        if new is None:
            del state.segments[dimension]
        else:
            state.segments[dimension] = new
        stamp = stamp or iso(at)
        changes.append(SegmentChange(change_id(user_id, dimension, old, new, stamp), user_id,
                                     dimension, old, new, stamp, reason))
    return changes
