"""Events reporting consumes: every event, folded into the anonymous read model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import service
from shared.app import Runtime
from shared.contracts import TicketReceived, TicketTriaged, subject_of
from shared.messaging.consumer import ConsumerSpec


async def on_ticket_received(session: AsyncSession, event: TicketReceived) -> None:
    await service.record_received(session=session, event=event)


async def on_ticket_triaged(session: AsyncSession, event: TicketTriaged) -> None:
    await service.record_triaged(session=session, event=event)


SPECS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("reporting", subject_of(TicketReceived), on_ticket_received),
    ConsumerSpec("reporting", subject_of(TicketTriaged), on_ticket_triaged),
)


def consumers(_runtime: Runtime) -> Sequence[ConsumerSpec]:
    return SPECS
