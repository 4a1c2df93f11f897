"""Every query triage makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import case, func, null, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.triage.models import (
    Assignment,
    AssignmentChange,
    Handler,
    LeadPage,
    SlaClock,
    TicketKey,
    TriageChange,
    TriageRecord,
)


async def get(session: AsyncSession, ticket_id: uuid.UUID) -> TriageRecord | None:
    return await session.get(TriageRecord, ticket_id)


def add(
    session: AsyncSession,
    record: TriageRecord
    | TriageChange
    | SlaClock
    | TicketKey
    | Handler
    | Assignment
    | AssignmentChange
    | LeadPage,
) -> None:
    session.add(record)


async def changes_of(session: AsyncSession, ticket_id: uuid.UUID) -> Sequence[TriageChange]:
    query = (
        select(TriageChange)
        .where(col(TriageChange.ticket_id) == ticket_id)
        .order_by(col(TriageChange.changed_at), col(TriageChange.id))
    )
    return (await session.scalars(query)).all()


async def overrides_with_triage(
    session: AsyncSession, *, since: datetime | None, source: str
) -> Sequence[tuple[TriageChange, TriageRecord]]:
    query = (
        select(TriageChange, TriageRecord)
        .join(TriageRecord, col(TriageRecord.ticket_id) == col(TriageChange.ticket_id))
        .where(col(TriageChange.source) == source)
        .order_by(col(TriageChange.changed_at), col(TriageChange.id))
    )
    if since is not None:
        query = query.where(col(TriageChange.changed_at) >= since)
    return [(change, record) for change, record in (await session.execute(query)).all()]


async def get_clock(session: AsyncSession, ticket_id: uuid.UUID) -> SlaClock | None:
    return await session.get(SlaClock, ticket_id)


async def clocks_due(session: AsyncSession, now: datetime, *, limit: int) -> Sequence[SlaClock]:
    """Clocks with a level falling due by `now`; replicas skip the rows another one holds."""
    query = (
        select(SlaClock)
        .where(col(SlaClock.next_check_at) <= now)
        .order_by(col(SlaClock.next_check_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return (await session.scalars(query)).all()


async def open_clocks(session: AsyncSession, *, limit: int) -> Sequence[SlaClock]:
    """Running or paused clocks of triaged tickets, soonest due first."""
    query = (
        select(SlaClock)
        .where(col(SlaClock.state).in_(("running", "paused")))
        .where(col(SlaClock.due_at).is_not(None))
        .order_by(col(SlaClock.due_at))
        .limit(limit)
    )
    return (await session.scalars(query)).all()


async def forget_words(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> None:
    """Drop what may quote a person (reasons, suggestions, handlers' notes) for `ticket_ids`."""
    if not ticket_ids:
        return
    await session.execute(
        update(TriageRecord)
        .where(col(TriageRecord.ticket_id).in_(ticket_ids))
        .values(reasons=[], suggestion=None)
    )
    await session.execute(
        update(TriageChange)
        .where(col(TriageChange.ticket_id).in_(ticket_ids))
        .values(reason=None, reason_sealed=None)
    )
    await session.execute(
        update(AssignmentChange)
        .where(col(AssignmentChange.ticket_id).in_(ticket_ids))
        .values(reason_sealed=None)
    )
    # The keys go too, so a copy of the ciphertext kept elsewhere stays unreadable; a row
    # without a key says "erased", so a later override does not make a new one.
    await session.execute(
        update(TicketKey).where(col(TicketKey.ticket_id).in_(ticket_ids)).values(wrapped_key=None)
    )
    keyed = set(
        (
            await session.scalars(
                select(col(TicketKey.ticket_id)).where(col(TicketKey.ticket_id).in_(ticket_ids))
            )
        ).all()
    )
    session.add_all(
        [TicketKey(ticket_id=t, wrapped_key=None) for t in ticket_ids if t not in keyed]
    )


async def get_ticket_key(session: AsyncSession, ticket_id: uuid.UUID) -> TicketKey | None:
    return await session.get(TicketKey, ticket_id)


async def clear_reasons(session: AsyncSession, *, limit: int) -> Sequence[TriageChange]:
    """Changes whose reason is still stored in clear (written before encryption)."""
    query = (
        select(TriageChange)
        .where(col(TriageChange.reason).is_not(None))
        .order_by(col(TriageChange.id))
        .limit(limit)
    )
    return (await session.scalars(query)).all()


# --- roster and assignment ----------------------------------------------------------


async def get_handler(session: AsyncSession, handler_id: str) -> Handler | None:
    return await session.get(Handler, handler_id)


async def handler_of_token(session: AsyncSession, token_id: str) -> Handler | None:
    query = select(Handler).where(col(Handler.token_id) == token_id)
    return (await session.scalars(query)).first()


async def handlers(session: AsyncSession) -> Sequence[Handler]:
    return (await session.scalars(select(Handler).order_by(col(Handler.handler_id)))).all()


async def get_assignment(session: AsyncSession, ticket_id: uuid.UUID) -> Assignment | None:
    return await session.get(Assignment, ticket_id)


async def assignment_changes_of(
    session: AsyncSession, ticket_id: uuid.UUID
) -> Sequence[AssignmentChange]:
    query = (
        select(AssignmentChange)
        .where(col(AssignmentChange.ticket_id) == ticket_id)
        .order_by(col(AssignmentChange.changed_at), col(AssignmentChange.id))
    )
    return (await session.scalars(query)).all()


async def open_load(session: AsyncSession) -> dict[tuple[str | None, str], int]:
    """Open tickets by (handler id or None, priority)."""
    query = (
        select(col(Assignment.handler_id), col(TriageRecord.priority), func.count())
        .join(TriageRecord, col(TriageRecord.ticket_id) == col(Assignment.ticket_id))
        .where(col(Assignment.open))
        .group_by(col(Assignment.handler_id), col(TriageRecord.priority))
    )
    return {(h, p): n for h, p, n in (await session.execute(query)).all()}


async def close_assignments(session: AsyncSession, ticket_ids: Sequence[uuid.UUID]) -> None:
    """Closed or erased tickets no longer count in anyone's load."""
    if ticket_ids:
        await session.execute(
            update(Assignment).where(col(Assignment.ticket_id).in_(ticket_ids)).values(open=False)
        )


# --- lead pages and their notifications -------------------------------------------------


async def get_page(session: AsyncSession, ticket_id: uuid.UUID) -> LeadPage | None:
    return await session.get(LeadPage, ticket_id)


# --- the queue ---------------------------------------------------------------------------


async def queue(
    session: AsyncSession,
    *,
    handler_id: str | None,
    unassigned: bool,
    limit: int,
    offset: int,
) -> list[tuple[TriageRecord, tuple[str | None, datetime | None], str | None]]:
    """Open tickets by priority, then due time of a running clock, then received time."""
    running = col(SlaClock.state).in_(("running", "paused")) & col(SlaClock.due_at).is_not(None)
    query = (
        select(TriageRecord, col(SlaClock.state), col(SlaClock.due_at), col(Assignment.handler_id))
        .join(Assignment, col(Assignment.ticket_id) == col(TriageRecord.ticket_id))
        .outerjoin(SlaClock, col(SlaClock.ticket_id) == col(TriageRecord.ticket_id))
        .where(col(Assignment.open))
        .order_by(
            col(TriageRecord.priority),
            case((running, 0), else_=1),
            case((running, col(SlaClock.due_at)), else_=null()),
            col(TriageRecord.received_at),
            col(TriageRecord.ticket_id),
        )
        .limit(limit)
        .offset(offset)
    )
    if handler_id is not None:
        query = query.where(col(Assignment.handler_id) == handler_id)
    if unassigned:
        query = query.where(col(Assignment.handler_id).is_(None))
    rows = (await session.execute(query)).all()
    return [(record, (state, due), holder) for record, state, due, holder in rows]
