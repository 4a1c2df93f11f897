"""Escalation rules: the state machine, approval, required fields and reminder times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.escalation import domain
from shared.contracts import EscalationState as S

T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (S.drafted, S.submitted),
        (S.submitted, S.acknowledged),
        (S.acknowledged, S.info_requested),
        (S.info_requested, S.submitted),
        (S.acknowledged, S.refused_risk_unclear),
        (S.submitted, S.no_response),
        (S.refused, S.drafted),
    ],
)
def test_allowed_moves_pass(current: S, target: S) -> None:
    domain.check_transition(current, target)


@pytest.mark.parametrize(
    ("current", "target"),
    [(S.drafted, S.actioned), (S.actioned, S.submitted), (S.submitted, S.drafted)],
)
def test_impossible_moves_are_refused(current: S, target: S) -> None:
    with pytest.raises(domain.TransitionRefused):
        domain.check_transition(current, target)


def test_p1_and_lgbtq_targeting_need_approval() -> None:
    assert domain.needs_approval("P1", [])
    assert domain.needs_approval("P3", ["lgbtq_targeting"])
    assert not domain.needs_approval("P2", ["minor"])


def test_missing_fields_are_listed_in_the_platforms_order() -> None:
    given: dict[str, object] = {"content_urls": [], "account_handle": "x", "violation_type": None}
    assert domain.missing_fields(["content_urls", "account_handle", "violation_type"], given) == [
        "content_urls",
        "violation_type",
    ]


def test_a_response_is_due_only_while_the_platform_owes_one() -> None:
    week = timedelta(days=7)
    assert domain.response_due(S.submitted, T0, week) == T0 + week
    assert domain.response_due(S.info_requested, T0, week) is None
    assert domain.response_due(S.actioned, T0, week) is None


def test_the_next_reminder_is_never_in_the_past() -> None:
    day = timedelta(days=1)
    assert domain.next_reminder(T0, day, T0 + timedelta(hours=1)) == T0 + day
    assert domain.next_reminder(T0, day, T0 + timedelta(days=3)) == T0 + 4 * day
