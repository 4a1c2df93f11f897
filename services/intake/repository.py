"""Every query intake makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.intake.models import Message, Requester, Ticket


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def get_requester(session: AsyncSession, requester_id: uuid.UUID) -> Requester | None:
    return await session.get(Requester, requester_id)


async def list_messages(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[Message]:
    query = (
        select(Message)
        .where(Message.ticket_id == ticket_id)
        .order_by(col(Message.created_at), col(Message.id))
    )
    return (await session.execute(query)).scalars().all()


async def set_triage(
    session: AsyncSession,
    ticket_id: uuid.UUID,
    *,
    category: str,
    priority: str,
    triaged_at: datetime,
) -> bool:
    """Record triage's result on the ticket; False if the ticket is unknown here."""
    result = await session.execute(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id)
        .values(category=category, priority=priority, triaged_at=triaged_at)
    )
    return bool(getattr(result, "rowcount", 0))
