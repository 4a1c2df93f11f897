"""What escalation keeps from other services' events: triage, ticket owners, consent, erasure."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import repository
from services.escalation.keys import shred_ticket_key
from services.escalation.models import RequesterConsent, TicketRequester, TriagedCase
from shared.contracts import (
    ConsentChanged,
    ConsentPurpose,
    RequesterErased,
    TicketReceived,
    TicketTriaged,
)
from shared.messaging.consumer import PermanentError


async def record_triage(*, session: AsyncSession, event: TicketTriaged) -> None:
    """Keep the latest triage of a ticket, for escalation suggestions and approval rules."""
    if event.ticket_id is None:
        raise PermanentError("ticket.triaged without a ticket id")
    case = await repository.get_case(session, event.ticket_id)
    if case is None:
        case = TriagedCase(
            ticket_id=event.ticket_id,
            category="",
            priority="",
            flags=[],
            triaged_at=event.data.triaged_at,
        )
        repository.add_case(session, case)
    case.category = event.data.category.value
    case.priority = event.data.priority.value
    case.flags = [f.value for f in event.data.flags]
    case.requester_role = event.data.requester_role.value
    case.country = event.data.country
    case.language = event.data.language
    case.triaged_at = event.data.triaged_at


async def record_ticket_owner(*, session: AsyncSession, event: TicketReceived) -> None:
    """Remember whose ticket it is (ids only): consent is given per requester."""
    if event.ticket_id is None:
        raise PermanentError("ticket.received without a ticket id")
    if await repository.get_ticket_requester(session, event.ticket_id) is None:
        repository.add(
            session,
            TicketRequester(ticket_id=event.ticket_id, requester_id=event.data.requester_id),
        )


async def record_consent(*, session: AsyncSession, event: ConsentChanged) -> None:
    """Keep the latest consent record of a requester; an older one arriving late is ignored."""
    data = event.data
    row = await repository.get_consent(session, data.requester_id)
    if row is not None and row.changed_at > data.changed_at:
        return
    platforms = data.consents.get(ConsentPurpose.share_with_platforms, False)
    partners = data.consents.get(ConsentPurpose.share_with_partners, False)
    statistics = data.consents.get(ConsentPurpose.anonymous_statistics, False)
    if row is None:
        repository.add(
            session,
            RequesterConsent(
                requester_id=data.requester_id,
                share_with_platforms=platforms,
                share_with_partners=partners,
                anonymous_statistics=statistics,
                changed_at=data.changed_at,
            ),
        )
    else:
        row.share_with_platforms, row.share_with_partners = platforms, partners
        row.anonymous_statistics = statistics
        row.changed_at = data.changed_at


async def forget_requester(*, session: AsyncSession, event: RequesterErased) -> None:
    """Drop the requester's escalation contents, referral texts and consent."""
    data = event.data
    tickets = sorted(
        set(data.ticket_ids)
        | set(await repository.tickets_of_requester(session, data.requester_id))
    )
    for row in await repository.escalations_of_tickets(session, tickets):
        if row.content_sealed is not None:
            row.content_sealed = None
            row.content_erased_at = data.erased_at
    # Crypto-shredding: without the ticket's key its texts are unreadable, in backups too.
    for ticket_id in tickets:
        await shred_ticket_key(session, ticket_id)
    # A referral not yet sent then has nothing to send: the delivery job withdraws it.
    for referral in await repository.referrals_of_tickets(session, tickets):
        if referral.details_sealed is not None:
            referral.details_sealed = None
            referral.details_erased_at = data.erased_at
    # Without a consent record nothing of theirs can be submitted any more.
    await repository.delete_consent(session, data.requester_id)
