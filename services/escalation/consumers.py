"""Events escalation consumes, one handler each, and its table of durable consumers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import records
from shared.app import Runtime
from shared.contracts import (
    ConsentChanged,
    RequesterErased,
    TicketReceived,
    TicketTriaged,
    subject_of,
)
from shared.messaging.consumer import ConsumerSpec


async def on_ticket_triaged(session: AsyncSession, event: TicketTriaged) -> None:
    await records.record_triage(session=session, event=event)


async def on_ticket_received(session: AsyncSession, event: TicketReceived) -> None:
    await records.record_ticket_owner(session=session, event=event)


async def on_consent_changed(session: AsyncSession, event: ConsentChanged) -> None:
    await records.record_consent(session=session, event=event)


async def on_requester_erased(session: AsyncSession, event: RequesterErased) -> None:
    await records.forget_requester(session=session, event=event)


def consumers(_runtime: Runtime) -> Sequence[ConsumerSpec]:
    return (
        ConsumerSpec("escalation", subject_of(TicketTriaged), on_ticket_triaged),
        ConsumerSpec("escalation", subject_of(TicketReceived), on_ticket_received),
        ConsumerSpec("escalation", subject_of(ConsentChanged), on_consent_changed),
        ConsumerSpec("escalation", subject_of(RequesterErased), on_requester_erased),
    )
