"""Lifecycle segment: an event-time state machine over a user's purchase history.

States::

    prospect     no purchase yet (signed up / browsing)
    new          first purchase less than ``new_days`` ago
    active       purchased within ``at_risk_days`` (and not new / freshly reactivated)
    at_risk      no purchase for ``at_risk_days`` .. ``churned_days``
    churned      no purchase for ``churned_days`` or more
    reactivated  purchased again after being churned; becomes active ``reactivated_days`` later

Allowed transitions (:data:`ALLOWED_TRANSITIONS`; anything else is never produced)::

    prospect    -> new, active, at_risk, churned
    new         -> active, at_risk, churned
    active      -> at_risk, churned
    at_risk     -> active, churned
    churned     -> reactivated
    reactivated -> active, at_risk, churned

Skips (``active -> churned``) happen when a user is evaluated rarely: one evaluation reports
where the user is now, not every state crossed in between. Nobody goes back to ``prospect``
or ``new``, and a churned user leaves ``churned`` only through a purchase (``reactivated``).

Pure: no Faust, no I/O. Event time only: ``at`` is the watermark, never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from online_models.profile import DAY, UserState

LIFECYCLE_STATES = ("prospect", "new", "active", "at_risk", "churned", "reactivated")

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "prospect": frozenset({"new", "active", "at_risk", "churned"}),
    "new": frozenset({"active", "at_risk", "churned"}),
    "active": frozenset({"at_risk", "churned"}),
    "at_risk": frozenset({"active", "churned"}),
    "churned": frozenset({"reactivated"}),
    "reactivated": frozenset({"active", "at_risk", "churned"}),
}


@dataclass(frozen=True, slots=True)
class LifecyclePolicy:
    """Thresholds of the lifecycle state machine, in days of event time.

    The defaults follow common e-commerce practice: a 90-day purchase silence is the usual
    churn definition for non-subscription retail (and should equal the churn model's horizon
    H so the segment and the churn label agree); half of it (45 days) flags users early
    enough for a win-back offer; 30 days is the usual "new customer" onboarding window and
    the time a returning customer is watched before counting as active again.

    Parameters
    ----------
    new_days
        A first purchase less than this long ago makes the user ``new``.
    at_risk_days
        The active window: a purchase within it keeps the user active; silence of this long
        makes them ``at_risk``.
    churned_days
        Silence of this long makes the user ``churned``. Must exceed ``at_risk_days``.
    reactivated_days
        How long a returning (formerly churned) customer stays ``reactivated``.

    Examples
    --------
    >>> LifecyclePolicy().churned_days
    90.0
    >>> LifecyclePolicy(at_risk_days=60, churned_days=30)
    Traceback (most recent call last):
    ...
    ValueError: need 0 < at_risk_days < churned_days, got 60 and 30
    """

    new_days: float = 30.0
    at_risk_days: float = 45.0
    churned_days: float = 90.0
    reactivated_days: float = 30.0

    def __post_init__(self) -> None:
        if self.new_days <= 0 or self.reactivated_days <= 0:
            raise ValueError("new_days and reactivated_days must be > 0")
        if not 0 < self.at_risk_days < self.churned_days:
            raise ValueError(
                f"need 0 < at_risk_days < churned_days, got {self.at_risk_days:g} and "
                f"{self.churned_days:g}"
            )


def _candidate(
    current: str, state: UserState, at: float, policy: LifecyclePolicy
) -> tuple[str, str]:
    """Where the user belongs now given where they were; may be a disallowed move."""
    if state.purchases <= 0 or state.last_purchase is None:
        return "prospect", "no_purchase_yet"
    silence = max(0.0, at - state.last_purchase) / DAY
    if silence >= policy.churned_days:
        return "churned", f"no_purchase_{policy.churned_days:g}d"
    if silence >= policy.at_risk_days:
        return "at_risk", f"no_purchase_{policy.at_risk_days:g}d"
    if current == "churned":
        return "reactivated", "purchase_after_churn"
    if current == "at_risk":
        return "active", "purchase_after_at_risk"
    if current == "reactivated":
        since = at if state.lifecycle_since is None else float(state.lifecycle_since)
        if (at - since) / DAY < policy.reactivated_days:
            return "reactivated", "unchanged"
        return "active", f"reactivated_{policy.reactivated_days:g}d_ago"
    first = state.first_purchase if state.first_purchase is not None else state.last_purchase
    if (at - first) / DAY < policy.new_days and current in ("prospect", "new"):
        return "new", "first_purchase"
    return "active", "new_window_over" if current == "new" else "recent_purchase"


def next_lifecycle(
    current: str | None, state: UserState, at: float, policy: LifecyclePolicy
) -> tuple[str, str]:
    """Return ``(segment, reason)`` for ``state`` evaluated at event time ``at``.

    ``current`` is the user's lifecycle segment so far (``None`` for never evaluated). The
    result is ``current`` itself (reason ``unchanged``) or a move allowed by
    :data:`ALLOWED_TRANSITIONS`. Silence moves users forward: evaluating later without new
    events can turn ``active`` into ``at_risk`` and then ``churned``.

    Time never moves backwards: the latest evaluation time is kept in
    ``state.lifecycle_evaluated_at``; an evaluation at an earlier ``at`` returns ``current``
    unchanged (reason ``stale``). ``state.lifecycle_since`` records when the current segment
    began (it times ``reactivated -> active``). Only these two fields are written.

    Raises
    ------
    ValueError
        If ``current`` is not a lifecycle state.

    Examples
    --------
    >>> from online_models.profile import DAY, UserState
    >>> p, s = LifecyclePolicy(), UserState(purchases=1, first_purchase=0.0, last_purchase=0.0)
    >>> next_lifecycle("prospect", s, 1 * DAY, p)
    ('new', 'first_purchase')
    >>> next_lifecycle("new", s, 50 * DAY, p)
    ('at_risk', 'no_purchase_45d')
    >>> next_lifecycle("at_risk", s, 10 * DAY, p)  # earlier than the last evaluation
    ('at_risk', 'stale')
    >>> s.purchases, s.last_purchase = 2, 200 * DAY
    >>> next_lifecycle("churned", s, 201 * DAY, p)
    ('reactivated', 'purchase_after_churn')
    """
    if current is not None and current not in ALLOWED_TRANSITIONS:
        raise ValueError(f"unknown lifecycle state {current!r}; expected one of {LIFECYCLE_STATES}")
    last_at = state.lifecycle_evaluated_at
    if current is not None and last_at is not None and at < float(last_at):
        return current, "stale"
    state.lifecycle_evaluated_at = max(at, float(last_at)) if last_at is not None else at
    if current is None:
        segment, reason = _candidate("prospect", state, at, policy)
        if segment == "prospect":
            state.lifecycle_since = at
            return segment, reason
    else:
        segment, reason = _candidate(current, state, at, policy)
        if segment == current:
            return current, "unchanged"
        if segment not in ALLOWED_TRANSITIONS[current]:
            return current, "unchanged"
    state.lifecycle_since = state.last_purchase if segment == "reactivated" else at
    return segment, reason


def next_boundary(state: UserState, at: float, policy: LifecyclePolicy) -> float | None:
    """The next event time after ``at`` when silence alone could move the user's lifecycle.

    Schedule the user then, so transitions happen on time without periodic re-scoring.

    >>> from online_models.profile import DAY, UserState
    >>> p = LifecyclePolicy()
    >>> s = UserState(purchases=1, first_purchase=0.0, last_purchase=0.0)
    >>> next_boundary(s, DAY, p) / DAY  # the new-customer window closes
    30.0
    >>> next_boundary(s, 31 * DAY, p) / DAY  # then silence makes them at risk
    45.0
    >>> next_boundary(UserState(), 0.0, p) is None  # prospects move only by purchasing
    True
    """
    if state.purchases <= 0 or state.last_purchase is None:
        return None
    last = state.last_purchase
    first = state.first_purchase if state.first_purchase is not None else last
    since = last if state.lifecycle_since is None else float(state.lifecycle_since)
    candidates = (first + policy.new_days * DAY, since + policy.reactivated_days * DAY,
                  last + policy.at_risk_days * DAY, last + policy.churned_days * DAY)
    later = [t for t in candidates if t > at]
    return min(later) if later else None
