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


async def ticket_ids_of(session: AsyncSession, requester_id: uuid.UUID) -> list[uuid.UUID]:
    query = select(Ticket.id).where(Ticket.requester_id == requester_id).order_by(col(Ticket.id))
    return list((await session.execute(query)).scalars().all())


async def shred_requester(
    session: AsyncSession, requester_id: uuid.UUID, ticket_ids: list[uuid.UUID]
) -> None:
    """Destroy a requester's data key and every field it protected or that points at them."""
    await session.execute(
        update(Requester)
        .where(col(Requester.id) == requester_id)
        .values(
            wrapped_key=None,
            name_enc=None,
            contact_channel=None,
            contact_handle_enc=None,
            contact_index=None,
            role="unknown",
            country=None,
        )
    )
    if ticket_ids:
        await session.execute(
            update(Message).where(col(Message.ticket_id).in_(ticket_ids)).values(body_enc=b"")
        )
        # The follow-up link dies with the data it showed.
        await session.execute(
            update(Ticket).where(col(Ticket.id).in_(ticket_ids)).values(follow_up_hash="")
        )
