"""Events intake consumes, one handler each, and its table of durable consumers."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import referrals, service
from shared.app import Runtime
from shared.contracts import (
    DLQ_PREFIX,
    ReferralReceived,
    RequesterErased,
    TicketAssigned,
    TicketMessageAdded,
    TicketReceived,
    TicketReprioritised,
    TicketTriaged,
    stream_for,
    subject_of,
)
from shared.messaging.consumer import ConsumerSpec
from shared.messaging.purge import purge_ticket_messages

# The events that carry a requester's words (sealed for triage), and the dead letters
# their consumers may have copied them into.
SEALED_SUBJECTS = (subject_of(TicketReceived), subject_of(TicketMessageAdded))
PURGE_SCANNER = "intake-purge"


async def on_ticket_triaged(session: AsyncSession, event: TicketTriaged) -> None:
    await service.apply_triage(session=session, event=event)


async def on_ticket_reprioritised(session: AsyncSession, event: TicketReprioritised) -> None:
    await service.apply_reprioritised(session=session, event=event)


async def on_ticket_assigned(session: AsyncSession, event: TicketAssigned) -> None:
    await service.apply_assignment(session=session, event=event)


def open_referrals(runtime: Runtime) -> ConsumerSpec:
    """A partner's referral, verified by escalation, becomes a ticket here."""

    async def handle(session: AsyncSession, event: ReferralReceived) -> None:
        await referrals.open_referred_ticket(
            session=session,
            keys=runtime.extras["keys"],
            content_keys=runtime.extras["content_keys"],
            outbox=runtime.outbox,
            event=event,
        )

    return ConsumerSpec("intake", subject_of(ReferralReceived), handle)


def purge_erased(runtime: Runtime) -> ConsumerSpec:
    """Erasure reaches the streams: the erased tickets' sealed messages are deleted.

    Intake consumes its own `requester.erased` so the purge is retried like any
    delivery until NATS has done it, whether the erasure came from a coordinator
    or from the retention job.
    """

    async def handle(_session: AsyncSession, event: RequesterErased) -> None:
        ticket_ids = [str(t) for t in event.data.ticket_ids]
        js = runtime.bus.js
        await purge_ticket_messages(
            js,
            stream=stream_for(SEALED_SUBJECTS[0]).name,
            subjects=SEALED_SUBJECTS,
            ticket_ids=ticket_ids,
            scanner=PURGE_SCANNER,
        )
        await purge_ticket_messages(
            js,
            stream=stream_for(f"{DLQ_PREFIX}.intake").name,
            subjects=(f"{DLQ_PREFIX}.>",),
            ticket_ids=ticket_ids,
            scanner=PURGE_SCANNER,
        )

    return ConsumerSpec("intake", subject_of(RequesterErased), handle, transactional=False)


def consumers(runtime: Runtime) -> Sequence[ConsumerSpec]:
    return (
        ConsumerSpec("intake", subject_of(TicketTriaged), on_ticket_triaged),
        ConsumerSpec("intake", subject_of(TicketReprioritised), on_ticket_reprioritised),
        ConsumerSpec("intake", subject_of(TicketAssigned), on_ticket_assigned),
        open_referrals(runtime),
        purge_erased(runtime),
    )
