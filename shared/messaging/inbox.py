"""Idempotency: the ids of events a consumer already applied."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession


async def applied_among(
    session: AsyncSession, table: Table, *, consumer: str, event_ids: Iterable[uuid.UUID]
) -> set[uuid.UUID]:
    """Which of `event_ids` this consumer has already applied (one query for a batch)."""
    wanted = [str(e) for e in event_ids]
    if not wanted:
        return set()
    query = select(table.c.event_id).where(
        table.c.consumer == consumer, table.c.event_id.in_(wanted)
    )
    return {uuid.UUID(row[0]) for row in (await session.execute(query)).all()}


async def record_applied(
    session: AsyncSession, table: Table, *, consumer: str, event_ids: Iterable[uuid.UUID]
) -> None:
    """Written in the transaction of the effects: both commit, or neither."""
    now = datetime.now(UTC)
    rows = [{"consumer": consumer, "event_id": str(e), "processed_at": now} for e in event_ids]
    if rows:
        await session.execute(insert(table), rows)
