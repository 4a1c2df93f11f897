"""Escalation rules, no I/O: the state machine, approval, required fields, reminder times."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from shared.contracts import EscalationState, Flag, Priority, ReferralDirection, ReferralState

S = EscalationState

FINAL: frozenset[EscalationState] = frozenset(
    {S.actioned, S.refused, S.refused_risk_unclear, S.no_response}
)
_OUTCOMES = FINAL
# A final escalation may be reopened: it goes back to drafted and is submitted again.
TRANSITIONS: Mapping[EscalationState, frozenset[EscalationState]] = {
    S.drafted: frozenset({S.submitted}),
    S.submitted: frozenset({S.acknowledged, S.info_requested} | _OUTCOMES),
    S.acknowledged: frozenset({S.info_requested} | _OUTCOMES),
    # The helpline answers the platform's question by submitting again.
    S.info_requested: frozenset({S.submitted} | _OUTCOMES),
    **{final: frozenset({S.drafted}) for final in FINAL},
}
# States in which the platform owes an answer, so its silence is counted.
AWAITING_PLATFORM: frozenset[EscalationState] = frozenset({S.submitted, S.acknowledged})


class TransitionRefused(Exception):
    """A move the state machine does not allow."""


def check_transition(current: EscalationState, target: EscalationState) -> None:
    """Raise TransitionRefused unless `current -> target` is allowed."""
    if target not in TRANSITIONS[current]:
        raise TransitionRefused(f"an escalation cannot go from {current} to {target}")


def sends_to_platform(target: EscalationState) -> bool:
    """Whether entering `target` hands information to the platform (consent is checked)."""
    return target is S.submitted


def needs_approval(priority: str, flags: Iterable[str]) -> bool:
    """P1 cases and cases of LGBTQ people targeted as such wait for a coordinator."""
    return priority == Priority.P1.value or Flag.lgbtq_targeting.value in set(flags)


def response_due(
    state: EscalationState, entered_at: datetime, expected: timedelta
) -> datetime | None:
    """When the platform's answer is due, or None when nothing is awaited from it."""
    return entered_at + expected if state in AWAITING_PLATFORM else None


def next_reminder(due_at: datetime, expected: timedelta, now: datetime) -> datetime:
    """After a reminder: the next one a full expected period later, never in the past."""
    later = due_at + expected
    while later <= now:
        later += expected
    return later


def missing_fields(required: Iterable[str], given: Mapping[str, object]) -> list[str]:
    """The platform's required fields that are absent or empty, in the platform's order."""
    return [name for name in required if not given.get(name)]


def seconds_between(start: datetime | None, end: datetime) -> int | None:
    return None if start is None else max(0, int((end - start).total_seconds()))


# --- referrals -------------------------------------------------------------------

R = ReferralState
REFERRAL_TRANSITIONS: Mapping[ReferralState, frozenset[ReferralState]] = {
    R.pending: frozenset({R.sent, R.withdrawn}),
    R.sent: frozenset({R.accepted, R.declined}),
    R.accepted: frozenset({R.closed}),
    R.declined: frozenset({R.closed}),
    R.closed: frozenset(),
    R.withdrawn: frozenset(),
}
# What the receiving helpline decides, and so reports back to the one that referred.
DECIDED_BY_RECEIVER: frozenset[ReferralState] = frozenset({R.accepted, R.declined, R.closed})


def check_referral_transition(current: ReferralState, target: ReferralState) -> None:
    """Raise TransitionRefused unless a referral may go from `current` to `target`."""
    if target not in REFERRAL_TRANSITIONS[current]:
        raise TransitionRefused(f"a referral cannot go from {current} to {target}")


def handler_may_move(direction: ReferralDirection, target: ReferralState) -> bool:
    """A handler withdraws its own pending referral, or decides on one it received."""
    if direction is ReferralDirection.outbound:
        return target is R.withdrawn
    return target in DECIDED_BY_RECEIVER


def physical_risk(flags: Iterable[str]) -> bool:
    """Whether a case carries a risk to the person's body or liberty."""
    return bool({Flag.physical_threat.value, Flag.detained.value} & set(flags))


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """The wait after `attempts` failed deliveries: doubling from `base`, never above `cap`."""
    exponent = min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(cap, base * (2**exponent)))


def within_window(
    generated_at: datetime, now: datetime, *, max_age: timedelta, skew: timedelta
) -> bool:
    """Whether a signed document's time is recent enough and not too far ahead."""
    return now - max_age <= generated_at <= now + skew
