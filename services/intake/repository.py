"""Every query intake makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, delete, func, insert, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from services.intake.domain import CLOSED
from services.intake.models import (
    Attachment,
    ConsentChange,
    Delivery,
    Message,
    RecentSubmission,
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
    assigned_handler: str | None = None,
    unassigned: bool = False,
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
    if assigned_handler is not None:
        query = query.where(col(Ticket.assigned_handler_id) == assigned_handler)
    if unassigned:
        query = query.where(col(Ticket.assigned_handler_id).is_(None))
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


async def deliveries_of(session: AsyncSession, ticket_id: uuid.UUID) -> dict[uuid.UUID, Delivery]:
    query = select(Delivery).where(Delivery.ticket_id == ticket_id)
    return {d.message_id: d for d in (await session.execute(query)).scalars().all()}


async def tickets_by_provider_refs(
    session: AsyncSession, provider_refs: Sequence[str]
) -> list[uuid.UUID]:
    """Tickets holding a message sent (a delivery) or received with one of these keyed ids."""
    sent = select(Delivery.ticket_id).where(col(Delivery.provider_ref).in_(provider_refs))
    received = select(Message.ticket_id).where(col(Message.provider_ref).in_(provider_refs))
    found = [*(await session.execute(sent)).scalars(), *(await session.execute(received)).scalars()]
    return list(dict.fromkeys(found))


async def last_requester_provider_id(session: AsyncSession, ticket_id: uuid.UUID) -> Message | None:
    """The requester's newest message on a ticket whose channel id was kept (an email's)."""
    query = (
        select(Message)
        .where(
            Message.ticket_id == ticket_id,
            Message.author == "requester",
            col(Message.provider_id_enc).is_not(None),
        )
        .order_by(col(Message.created_at).desc(), col(Message.id).desc())
        .limit(1)
    )
    return (await session.execute(query)).scalars().first()


async def due_deliveries(session: AsyncSession, at: datetime, limit: int) -> Sequence[Delivery]:
    """Pending replies whose time has come, oldest first."""
    query = (
        select(Delivery)
        .where(
            Delivery.state == "pending",
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= at),
        )
        .order_by(col(Delivery.created_at), col(Delivery.message_id))
        .limit(limit)
    )
    return (await session.execute(query)).scalars().all()


async def next_delivery_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending reply is due (now, for one never tried), or None."""
    query = (
        select(Delivery)
        .where(Delivery.state == "pending")
        .order_by(col(Delivery.next_attempt_at).asc().nulls_first())
        .limit(1)
    )
    found = (await session.execute(query)).scalars().first()
    if found is None:
        return None
    return found.next_attempt_at or found.created_at


async def claim_delivery(
    session: AsyncSession, delivery: Delivery, *, until: datetime, at: datetime
) -> bool:
    """Take a due delivery for one attempt: its next_attempt_at moves to `until` (a lease),
    unless another sender (a replica) moved it first."""
    result = await session.execute(
        update(Delivery)
        .where(
            col(Delivery.message_id) == delivery.message_id,
            col(Delivery.state) == "pending",
            or_(col(Delivery.next_attempt_at).is_(None), col(Delivery.next_attempt_at) <= at),
        )
        .values(next_attempt_at=until)
    )
    return bool(getattr(result, "rowcount", 0))


async def get_delivery(session: AsyncSession, message_id: uuid.UUID) -> Delivery | None:
    return await session.get(Delivery, message_id)


async def get_message(session: AsyncSession, message_id: uuid.UUID) -> Message | None:
    return await session.get(Message, message_id)


async def get_attachment(
    session: AsyncSession, ticket_id: uuid.UUID, attachment_id: uuid.UUID
) -> Attachment | None:
    attachment = await session.get(Attachment, attachment_id)
    return attachment if attachment is not None and attachment.ticket_id == ticket_id else None


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


async def attachment_by_content_index(
    session: AsyncSession, ticket_id: uuid.UUID, indexes: Sequence[str]
) -> uuid.UUID | None:
    """The attachment of this ticket holding a file with one of these keyed digests."""
    query = (
        select(Attachment.id)
        .where(
            Attachment.ticket_id == ticket_id,
            col(Attachment.content_index).in_(indexes),
            col(Attachment.content_enc).is_not(None),
        )
        .limit(1)
    )
    found: uuid.UUID | None = (await session.execute(query)).scalar_one_or_none()
    return found


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


async def set_assignment(
    session: AsyncSession, ticket_id: uuid.UUID, *, handler_id: str | None, assigned_at: datetime
) -> bool:
    """Record who triage assigned the ticket to, unless a newer assignment is recorded."""
    result = await session.execute(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id)
        .where(or_(col(Ticket.assigned_at).is_(None), col(Ticket.assigned_at) <= assigned_at))
        .values(assigned_handler_id=handler_id, assigned_at=assigned_at)
    )
    return bool(getattr(result, "rowcount", 0))


async def set_priority(
    session: AsyncSession, ticket_id: uuid.UUID, *, category: str, priority: str
) -> bool:
    """Record a changed category or priority (override or re-triage) on the ticket."""
    result = await session.execute(
        update(Ticket)
        .where(col(Ticket.id) == ticket_id)
        .values(category=category, priority=priority)
    )
    return bool(getattr(result, "rowcount", 0))


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
            contact_index_key=None,
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
            .values(body_enc=b"", provider_ref=None, provider_id_enc=None)
        )
        await session.execute(
            update(Attachment)
            .where(col(Attachment.ticket_id).in_(ticket_ids))
            .values(media_enc=b"", mime_type=None, content_enc=None, content_index=None)
        )
        # A fingerprint of their text would still match it: gone too.
        await session.execute(
            delete(RecentSubmission).where(col(RecentSubmission.ticket_id).in_(ticket_ids))
        )
        # Replies not yet sent never will be: the address they were going to is gone.
        await session.execute(
            update(Delivery)
            .where(col(Delivery.ticket_id).in_(ticket_ids))
            .values(provider_ref=None)
        )
        await session.execute(
            update(Delivery)
            .where(col(Delivery.ticket_id).in_(ticket_ids), col(Delivery.state) == "pending")
            .values(state="failed", last_error="erased")
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
