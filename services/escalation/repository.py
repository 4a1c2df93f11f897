"""Every query escalation makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel, col

from services.escalation.models import (
    Escalation,
    EscalationTransition,
    RequesterConsent,
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
