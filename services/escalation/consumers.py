"""Events escalation consumes, one handler each, and its table of durable consumers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import service
from shared.app import Runtime
from shared.contracts import TicketTriaged, subject_of
from shared.messaging.consumer import ConsumerSpec


async def on_ticket_triaged(session: AsyncSession, event: TicketTriaged) -> None:
    await service.record_triage(session=session, event=event)


def consumers(_runtime: Runtime) -> Sequence[ConsumerSpec]:
    return (ConsumerSpec("escalation", subject_of(TicketTriaged), on_ticket_triaged),)
