"""Every query triage makes."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from services.triage.models import SlaClock, TriageChange, TriageRecord


async def get(session: AsyncSession, ticket_id: uuid.UUID) -> TriageRecord | None:
    return await session.get(TriageRecord, ticket_id)


def add(session: AsyncSession, record: TriageRecord | TriageChange | SlaClock) -> None:
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
        update(TriageChange).where(col(TriageChange.ticket_id).in_(ticket_ids)).values(reason=None)
    )
