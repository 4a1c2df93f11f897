"""Events triage consumes, one handler each, and its table of durable consumers."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import service
from shared.app import Runtime
from shared.contracts import TicketReceived, subject_of
from shared.messaging.consumer import ConsumerSpec


async def on_ticket_received(
    runtime: Runtime, session: AsyncSession, event: TicketReceived
) -> None:
    await service.triage_ticket(
        session=session,
        event=event,
        lexicon=runtime.extras["lexicon"],
        keys=runtime.extras["content_keys"],
        outbox=runtime.outbox,
    )


def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
    return (
        ConsumerSpec("triage", subject_of(TicketReceived), partial(on_ticket_received, runtime)),
    )
