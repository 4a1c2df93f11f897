"""What a referral counts towards, and which gauges a ticket adds to."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

from services.reporting.domain import FactState, ReferralState, referral_counts, ticket_gauges

AT = datetime(2025, 3, 14, 23, 50, tzinfo=UTC)


def test_a_sent_referral_counts_its_partner_outcome_and_acceptance_on_the_day_it_was_sent() -> None:
    r = ReferralState(
        referral_id=uuid.uuid4(),
        partner_id="smex",
        direction="sent",
        at=AT,
        state="closed",
        accepted_at=AT + timedelta(minutes=45),
    )

    assert referral_counts(r) == {
        (date(2025, 3, 14), "referral_sent", "smex"),
        (date(2025, 3, 14), "referral_outcome:sent:closed", "smex"),
        (date(2025, 3, 14), "referral_acceptance:sent:60", "smex"),
    }


def test_a_referral_withdrawn_before_it_left_counts_only_its_outcome_on_that_day() -> None:
    r = ReferralState(
        referral_id=uuid.uuid4(),
        partner_id="smex",
        direction="sent",
        state="withdrawn",
        first_changed_at=AT + timedelta(days=1),
    )

    assert referral_counts(r) == {(date(2025, 3, 15), "referral_outcome:sent:withdrawn", "smex")}


def test_a_referral_still_on_its_way_is_open_and_one_with_no_day_counts_nowhere() -> None:
    pending = ReferralState(
        referral_id=uuid.uuid4(), partner_id="smex", direction="received", at=AT, state="pending"
    )
    nowhere = ReferralState(referral_id=uuid.uuid4(), partner_id="smex", direction="received")

    assert (date(2025, 3, 14), "referral_outcome:received:open", "smex") in referral_counts(pending)
    assert referral_counts(nowhere) == frozenset()


def test_an_open_ticket_waits_in_the_queues_of_its_priority_and_a_resolved_one_in_none() -> None:
    waiting = FactState(ticket_id=uuid.uuid4(), received_at=AT, priority="P1")
    untriaged = FactState(ticket_id=uuid.uuid4(), received_at=AT, assigned=True)
    resolved = FactState(ticket_id=uuid.uuid4(), received_at=AT, priority="P1", status="resolved")
    unknown = FactState(ticket_id=uuid.uuid4(), status="open")  # only a status change so far

    assert ticket_gauges(waiting) == {
        ("tickets", "new"),
        ("unanswered", "P1"),
        ("unassigned", "P1"),
    }
    assert ticket_gauges(untriaged) == {("tickets", "new"), ("unanswered", "untriaged")}
    assert ticket_gauges(resolved) == {("tickets", "resolved")}
    assert ticket_gauges(unknown) == frozenset()
