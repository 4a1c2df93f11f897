"""Reporting's use cases: fold events into the read model, answer with suppressed counts."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import repository
from services.reporting.domain import suppress, suppress_all
from services.reporting.models import Summary
from shared.contracts import TicketReceived, TicketTriaged
from shared.messaging.consumer import PermanentError


async def record_received(*, session: AsyncSession, event: TicketReceived) -> None:
    """Only the fields a report needs; the sealed text is dropped unread."""
    if event.ticket_id is None:
        raise PermanentError("ticket.received without a ticket id")
    fact = await repository.get_or_create(session, event.ticket_id)
    fact.channel = event.data.channel.value
    fact.requester_role = event.data.requester_role.value
    fact.country = event.data.country
    fact.received_at = event.data.received_at


async def record_triaged(*, session: AsyncSession, event: TicketTriaged) -> None:
    if event.ticket_id is None:
        raise PermanentError("ticket.triaged without a ticket id")
    fact = await repository.get_or_create(session, event.ticket_id)
    fact.category = event.data.category.value
    fact.priority = event.data.priority.value
    fact.triaged_at = event.data.triaged_at


async def summary(*, session: AsyncSession) -> Summary:
    """Tickets received and triaged, and triaged tickets by priority and category."""
    return Summary(
        tickets_received=suppress(await repository.count_received(session)),
        tickets_triaged=suppress(await repository.count_triaged(session)),
        by_priority=suppress_all(await repository.count_by(session, "priority")),
        by_category=suppress_all(await repository.count_by(session, "category")),
    )
