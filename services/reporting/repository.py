"""Every query reporting makes."""

from __future__ import annotations

import uuid

from sqlalchemy import func
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.reporting.models import TicketFact


async def get_or_create(session: AsyncSession, ticket_id: uuid.UUID) -> TicketFact:
    fact = await session.get(TicketFact, ticket_id)
    if fact is None:
        fact = TicketFact(ticket_id=ticket_id)
        session.add(fact)
    return fact


async def count_received(session: AsyncSession) -> int:
    query = select(func.count()).where(col(TicketFact.received_at).is_not(None))
    return int((await session.execute(query)).scalar_one())


async def count_triaged(session: AsyncSession) -> int:
    query = select(func.count()).where(col(TicketFact.triaged_at).is_not(None))
    return int((await session.execute(query)).scalar_one())


async def count_by(session: AsyncSession, column: str) -> dict[str, int]:
    """Triaged tickets counted by `priority` or `category`."""
    field = col(getattr(TicketFact, column))
    query = select(field, func.count()).where(field.is_not(None)).group_by(field)
    return {str(key): int(n) for key, n in (await session.execute(query)).all()}
