"""Every query intake makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.intake.domain import CLOSED
from services.intake.models import (
    Attachment,
    ConsentChange,
    Delivery,
    Message,
    Requester,
    Ticket,
    VettingChange,
)
from shared.groupcommit import RowSet
from shared.messaging.outbox import mark_outbox_written


async def get_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def get_ticket_for_update(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket | None:
    """The ticket, locked until the transaction ends (PostgreSQL; SQLite's writer holds it)."""
    query = select(Ticket).where(Ticket.id == ticket_id).with_for_update()
    return (await session.execute(query)).scalars().first()


async def get_ticket_by_reference(
    session: AsyncSession, reference: str, *, lock: bool = False
) -> Ticket | None:
    query = select(Ticket).where(Ticket.reference == reference)
    if lock:
        query = query.with_for_update()
    return (await session.execute(query)).scalars().first()


async def reference_taken(session: AsyncSession, reference: str) -> bool:
    query = select(Ticket.id).where(Ticket.reference == reference)
    return (await session.execute(query)).first() is not None


async def latest_requester_by_contact(
    session: AsyncSession, channel: str, indexes: Sequence[str]
) -> Requester | None:
    """The newest requester (not erased) whose contact has one of these keyed hashes."""
    query = (
        select(Requester)
        .where(
            Requester.contact_channel == channel,
            col(Requester.contact_index).in_(indexes),
            col(Requester.wrapped_key).is_not(None),
        )
        .order_by(col(Requester.created_at).desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def open_ticket_by_contact(
    session: AsyncSession, channel: str, indexes: Sequence[str]
) -> Ticket | None:
    """The newest ticket, not closed, of a requester whose contact has one of these hashes."""
    query = (
        select(Ticket)
        .join(Requester, col(Requester.id) == col(Ticket.requester_id))
        .where(
            Requester.contact_channel == channel,
            col(Requester.contact_index).in_(indexes),
            col(Requester.wrapped_key).is_not(None),
            Ticket.status != CLOSED,
        )
        .order_by(col(Ticket.received_at).desc(), col(Ticket.id).desc())
        .limit(1)
        .with_for_update()
    )
    return (await session.execute(query)).scalars().first()


async def delivery_seen(session: AsyncSession, provider_refs: Sequence[str]) -> bool:
    """Whether a message with one of these keyed platform ids is stored already."""
    query = select(Message.id).where(col(Message.provider_ref).in_(provider_refs)).limit(1)
    return (await session.execute(query)).first() is not None


async def insert_rows(session: AsyncSession, rows: RowSet) -> None:
    """Insert a RowSet in the session's transaction (what the group committer does alone)."""
    for table, values in rows.inserts:
        if values:
            await session.execute(insert(table), values)
    if rows.writes_outbox:
        mark_outbox_written(session)


async def attachments_of(
    session: AsyncSession, ticket_id: uuid.UUID
) -> dict[uuid.UUID, list[Attachment]]:
    """A ticket's attachments by message id."""
    query = (
        select(Attachment)
        .where(Attachment.ticket_id == ticket_id)
        .order_by(col(Attachment.created_at), col(Attachment.id))
    )
    found: dict[uuid.UUID, list[Attachment]] = {}
    for attachment in (await session.execute(query)).scalars().all():
        found.setdefault(attachment.message_id, []).append(attachment)
    return found


async def list_tickets(
    session: AsyncSession,
    *,
    status: str | None,
    channel: str | None,
    language: str | None,
    received_from: datetime | None,
    received_before: datetime | None,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> Sequence[Ticket]:
    """Tickets newest first, by (received_at, id): a stable order for cursors."""
    query = select(Ticket)
    if status is not None:
        query = query.where(Ticket.status == status)
    if channel is not None:
        query = query.where(Ticket.channel == channel)
    if language is not None:
        query = query.where(Ticket.declared_language == language)
    if received_from is not None:
        query = query.where(col(Ticket.received_at) >= received_from)
    if received_before is not None:
        query = query.where(col(Ticket.received_at) < received_before)
    if after is not None:
        at, ticket_id = after
        query = query.where(
            or_(
                col(Ticket.received_at) < at,
                and_(col(Ticket.received_at) == at, col(Ticket.id) < ticket_id),
            )
        )
    query = query.order_by(col(Ticket.received_at).desc(), col(Ticket.id).desc()).limit(limit)
    return (await session.execute(query)).scalars().all()


async def deliveries_of(session: AsyncSession, ticket_id: uuid.UUID) -> dict[uuid.UUID, str]:
    query = select(Delivery.message_id, Delivery.state).where(Delivery.ticket_id == ticket_id)
    return {row[0]: row[1] for row in (await session.execute(query)).all()}


async def consent_history(
    session: AsyncSession, requester_id: uuid.UUID
) -> Sequence[ConsentChange]:
    """Every consent change of a requester, newest first."""
    query = (
        select(ConsentChange)
        .where(ConsentChange.requester_id == requester_id)
        .order_by(col(ConsentChange.id).desc())
    )
    return (await session.execute(query)).scalars().all()


async def vetting_history(
    session: AsyncSession, requester_id: uuid.UUID
) -> Sequence[VettingChange]:
    """Every vetting change of a requester, newest first."""
    query = (
        select(VettingChange)
        .where(VettingChange.requester_id == requester_id)
        .order_by(col(VettingChange.changed_at).desc(), col(VettingChange.id))
    )
    return (await session.execute(query)).scalars().all()


def add(session: AsyncSession, *rows: object) -> None:
    session.add_all(rows)


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
            contact_times_enc=None,
            avoid_channels=None,
            role="unknown",
            country=None,
        )
    )
    await session.execute(
        update(VettingChange)
        .where(col(VettingChange.requester_id) == requester_id)
        .values(note_enc=None)
    )
    if ticket_ids:
        await session.execute(
            update(Message)
            .where(col(Message.ticket_id).in_(ticket_ids))
            .values(body_enc=b"", provider_ref=None)
        )
        await session.execute(
            update(Attachment)
            .where(col(Attachment.ticket_id).in_(ticket_ids))
            .values(media_enc=b"", mime_type=None)
        )
        # The follow-up link dies with the data it showed.
        await session.execute(
            update(Ticket).where(col(Ticket.id).in_(ticket_ids)).values(follow_up_hash="")
        )


async def requesters_past_retention(
    session: AsyncSession, closed_before: datetime, limit: int
) -> list[uuid.UUID]:
    """Requesters not yet erased whose tickets are all closed, each before `closed_before`."""
    kept = case(
        (and_(col(Ticket.status) == CLOSED, col(Ticket.closed_at) < closed_before), 0), else_=1
    )
    query = (
        select(col(Ticket.requester_id))
        .join(Requester, col(Requester.id) == col(Ticket.requester_id))
        .where(col(Requester.wrapped_key).is_not(None))
        .group_by(col(Ticket.requester_id))
        .having(func.sum(kept) == 0)
        .order_by(col(Ticket.requester_id))
        .limit(limit)
    )
    return list((await session.execute(query)).scalars().all())
