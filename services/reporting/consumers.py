"""Events reporting consumes: every event, folded into the anonymous read model."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import service
from shared.app import Runtime
from shared.contracts import (
    EscalationOpened,
    EscalationResolved,
    ReferralReceived,
    ReferralSent,
    ReferralUpdated,
    RequesterErased,
    SlaBreached,
    TicketAssigned,
    TicketClosed,
    TicketMessageAdded,
    TicketReceived,
    TicketReprioritised,
    TicketStatusChanged,
    TicketTriaged,
    subject_of,
)
from shared.messaging.consumer import ConsumerSpec


async def on_ticket_received(session: AsyncSession, event: TicketReceived) -> None:
    await service.record_received(session=session, event=event)


async def on_ticket_triaged(session: AsyncSession, event: TicketTriaged) -> None:
    await service.record_triaged(session=session, event=event)


async def on_message_added(session: AsyncSession, event: TicketMessageAdded) -> None:
    await service.record_message_added(session=session, event=event)


async def on_ticket_closed(session: AsyncSession, event: TicketClosed) -> None:
    await service.record_closed(session=session, event=event)


async def on_requester_erased(session: AsyncSession, event: RequesterErased) -> None:
    await service.record_erased(session=session, event=event)


async def on_ticket_reprioritised(session: AsyncSession, event: TicketReprioritised) -> None:
    await service.record_reprioritised(session=session, event=event)


async def on_sla_breached(session: AsyncSession, event: SlaBreached) -> None:
    await service.record_sla_breached(session=session, event=event)


async def on_escalation_opened(session: AsyncSession, event: EscalationOpened) -> None:
    await service.record_escalation_opened(session=session, event=event)


async def on_escalation_resolved(session: AsyncSession, event: EscalationResolved) -> None:
    await service.record_escalation_resolved(session=session, event=event)


async def on_status_changed(session: AsyncSession, event: TicketStatusChanged) -> None:
    await service.record_status_changed(session=session, event=event)


async def on_ticket_assigned(session: AsyncSession, event: TicketAssigned) -> None:
    await service.record_assigned(session=session, event=event)


async def on_referral_sent(session: AsyncSession, event: ReferralSent) -> None:
    await service.record_referral_sent(session=session, event=event)


async def on_referral_received(session: AsyncSession, event: ReferralReceived) -> None:
    await service.record_referral_received(session=session, event=event)


async def on_referral_updated(session: AsyncSession, event: ReferralUpdated) -> None:
    await service.record_referral_updated(session=session, event=event)


SPECS: tuple[ConsumerSpec, ...] = (
    ConsumerSpec("reporting", subject_of(TicketReceived), on_ticket_received),
    ConsumerSpec("reporting", subject_of(TicketTriaged), on_ticket_triaged),
    ConsumerSpec("reporting", subject_of(TicketMessageAdded), on_message_added),
    ConsumerSpec("reporting", subject_of(TicketClosed), on_ticket_closed),
    ConsumerSpec("reporting", subject_of(RequesterErased), on_requester_erased),
    ConsumerSpec("reporting", subject_of(TicketReprioritised), on_ticket_reprioritised),
    ConsumerSpec("reporting", subject_of(SlaBreached), on_sla_breached),
    ConsumerSpec("reporting", subject_of(EscalationOpened), on_escalation_opened),
    ConsumerSpec("reporting", subject_of(EscalationResolved), on_escalation_resolved),
    ConsumerSpec("reporting", subject_of(TicketStatusChanged), on_status_changed),
    ConsumerSpec("reporting", subject_of(TicketAssigned), on_ticket_assigned),
    ConsumerSpec("reporting", subject_of(ReferralSent), on_referral_sent),
    ConsumerSpec("reporting", subject_of(ReferralReceived), on_referral_received),
    ConsumerSpec("reporting", subject_of(ReferralUpdated), on_referral_updated),
)
# The handler of each event type, for replays that bypass the durable consumers.
HANDLERS = {spec.subject: spec.handler for spec in SPECS}


def consumers(_runtime: Runtime) -> Sequence[ConsumerSpec]:
    return SPECS
