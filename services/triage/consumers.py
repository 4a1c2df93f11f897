"""Events triage consumes, one handler each, and its table of durable consumers."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import followups, service
from shared.app import Runtime
from shared.contracts import (
    RequesterErased,
    TicketClosed,
    TicketMessageAdded,
    TicketReceived,
    TicketStatusChanged,
    subject_of,
)
from shared.messaging.consumer import ConsumerSpec


async def on_ticket_received(
    runtime: Runtime, session: AsyncSession, event: TicketReceived
) -> None:
    await service.triage_ticket(
        session=session,
        event=event,
        lexicon=runtime.extras["lexicon"],
        keys=runtime.extras["content_keys"],
        masters=runtime.extras["masters"],
        outbox=runtime.outbox,
    )


async def on_message_added(
    runtime: Runtime, session: AsyncSession, event: TicketMessageAdded
) -> None:
    await followups.on_message_added(session=session, event=event)
    await followups.retriage(
        session=session,
        event=event,
        lexicon=runtime.extras["lexicon"],
        keys=runtime.extras["content_keys"],
        masters=runtime.extras["masters"],
        outbox=runtime.outbox,
    )


async def on_status_changed(session: AsyncSession, event: TicketStatusChanged) -> None:
    await followups.on_status_changed(session=session, event=event)


async def on_closed(session: AsyncSession, event: TicketClosed) -> None:
    await followups.on_closed(session=session, event=event)


async def on_requester_erased(session: AsyncSession, event: RequesterErased) -> None:
    await followups.forget_requester(session=session, event=event)


def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
    return (
        ConsumerSpec("triage", subject_of(TicketReceived), partial(on_ticket_received, runtime)),
        ConsumerSpec("triage", subject_of(TicketMessageAdded), partial(on_message_added, runtime)),
        ConsumerSpec("triage", subject_of(TicketStatusChanged), on_status_changed),
        ConsumerSpec("triage", subject_of(TicketClosed), on_closed),
        ConsumerSpec("triage", subject_of(RequesterErased), on_requester_erased),
    )
