"""Every query escalation makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.escalation.models import (
    Escalation,
    EscalationTransition,
    Partner,
    Referral,
    ReferralDelivery,
    ReferralTransition,
    RequesterConsent,
    TicketKey,
    TicketRequester,
    TriagedCase,
)


def add(session: AsyncSession, row: SQLModel) -> None:
    session.add(row)


async def get_case(session: AsyncSession, ticket_id: uuid.UUID) -> TriagedCase | None:
    return await session.get(TriagedCase, ticket_id)


def add_case(session: AsyncSession, case: TriagedCase) -> None:
    session.add(case)


async def get_escalation(session: AsyncSession, escalation_id: uuid.UUID) -> Escalation | None:
    return await session.get(Escalation, escalation_id)


async def escalations_of_ticket(
    session: AsyncSession, ticket_id: uuid.UUID
) -> Sequence[Escalation]:
    query = (
        select(Escalation)
        .where(col(Escalation.ticket_id) == ticket_id)
        .order_by(col(Escalation.opened_at))
    )
    return (await session.execute(query)).scalars().all()


async def escalations_of_tickets(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> Sequence[Escalation]:
    query = select(Escalation).where(col(Escalation.ticket_id).in_(ticket_ids))
    return (await session.execute(query)).scalars().all()


async def transitions_of(
    session: AsyncSession, escalation_id: uuid.UUID
) -> Sequence[EscalationTransition]:
    query = (
        select(EscalationTransition)
        .where(col(EscalationTransition.escalation_id) == escalation_id)
        .order_by(col(EscalationTransition.id))
    )
    return (await session.execute(query)).scalars().all()


async def reminders_due(
    session: AsyncSession, now: datetime, *, limit: int
) -> Sequence[Escalation]:
    query = (
        select(Escalation)
        .where(col(Escalation.response_due_at) <= now)
        .order_by(col(Escalation.response_due_at))
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def get_ticket_requester(
    session: AsyncSession, ticket_id: uuid.UUID
) -> TicketRequester | None:
    return await session.get(TicketRequester, ticket_id)


async def tickets_of_requester(session: AsyncSession, requester_id: uuid.UUID) -> list[uuid.UUID]:
    query = select(col(TicketRequester.ticket_id)).where(
        col(TicketRequester.requester_id) == requester_id
    )
    return list((await session.execute(query)).scalars().all())


async def get_consent(session: AsyncSession, requester_id: uuid.UUID) -> RequesterConsent | None:
    return await session.get(RequesterConsent, requester_id)


async def delete_consent(session: AsyncSession, requester_id: uuid.UUID) -> None:
    await session.execute(
        delete(RequesterConsent).where(col(RequesterConsent.requester_id) == requester_id)
    )


# --- partners and referrals ------------------------------------------------------


async def get_partner(session: AsyncSession, partner_id: str) -> Partner | None:
    return await session.get(Partner, partner_id)


async def list_partners(session: AsyncSession) -> Sequence[Partner]:
    return (await session.execute(select(Partner).order_by(col(Partner.id)))).scalars().all()


async def get_referral(session: AsyncSession, referral_id: uuid.UUID) -> Referral | None:
    return await session.get(Referral, referral_id)


async def list_referrals(
    session: AsyncSession,
    *,
    ticket_id: uuid.UUID | None = None,
    partner_id: str | None = None,
    direction: str | None = None,
    limit: int = 200,
) -> Sequence[Referral]:
    query = select(Referral)
    if ticket_id is not None:
        query = query.where(col(Referral.ticket_id) == ticket_id)
    if partner_id is not None:
        query = query.where(col(Referral.partner_id) == partner_id)
    if direction is not None:
        query = query.where(col(Referral.direction) == direction)
    query = query.order_by(col(Referral.created_at).desc(), col(Referral.id)).limit(limit)
    return (await session.execute(query)).scalars().all()


async def referrals_of_tickets(
    session: AsyncSession, ticket_ids: Sequence[uuid.UUID]
) -> Sequence[Referral]:
    query = select(Referral).where(col(Referral.ticket_id).in_(ticket_ids))
    return (await session.execute(query)).scalars().all()


async def referral_transitions_of(
    session: AsyncSession, referral_id: uuid.UUID
) -> Sequence[ReferralTransition]:
    query = (
        select(ReferralTransition)
        .where(col(ReferralTransition.referral_id) == referral_id)
        .order_by(col(ReferralTransition.id))
    )
    return (await session.execute(query)).scalars().all()


async def deliveries_of(
    session: AsyncSession, referral_id: uuid.UUID
) -> Sequence[ReferralDelivery]:
    query = (
        select(ReferralDelivery)
        .where(col(ReferralDelivery.referral_id) == referral_id)
        .order_by(col(ReferralDelivery.id))
    )
    return (await session.execute(query)).scalars().all()


async def deliveries_due(
    session: AsyncSession, now: datetime, *, limit: int
) -> Sequence[ReferralDelivery]:
    query = (
        select(ReferralDelivery)
        .where(col(ReferralDelivery.status) == "due", col(ReferralDelivery.next_attempt_at) <= now)
        .order_by(col(ReferralDelivery.next_attempt_at), col(ReferralDelivery.id))
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def get_delivery(session: AsyncSession, delivery_id: int) -> ReferralDelivery | None:
    return await session.get(ReferralDelivery, delivery_id)


async def next_delivery_at(session: AsyncSession) -> datetime | None:
    query = select(func.min(col(ReferralDelivery.next_attempt_at))).where(
        col(ReferralDelivery.status) == "due"
    )
    value: datetime | None = (await session.execute(query)).scalar_one_or_none()
    return value


async def get_ticket_key(session: AsyncSession, ticket_id: uuid.UUID) -> TicketKey | None:
    return await session.get(TicketKey, ticket_id)
