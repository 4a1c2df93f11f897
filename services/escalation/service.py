"""Escalation's use cases."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import repository
from services.escalation.models import TriagedCase
from shared.contracts import TicketTriaged
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
    case.triaged_at = event.data.triaged_at
