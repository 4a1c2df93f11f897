"""Idempotency: the ids of events a consumer already applied."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Table, insert, select
from sqlalchemy.ext.asyncio import AsyncSession


async def already_applied(
    session: AsyncSession, table: Table, *, consumer: str, event_id: uuid.UUID
) -> bool:
    query = select(table.c.event_id).where(
        table.c.consumer == consumer, table.c.event_id == str(event_id)
    )
    return (await session.execute(query)).first() is not None


async def record_applied(
    session: AsyncSession, table: Table, *, consumer: str, event_id: uuid.UUID
) -> None:
    """Written in the transaction of the effect: both commit, or neither."""
    await session.execute(
        insert(table).values(
            consumer=consumer, event_id=str(event_id), processed_at=datetime.now(UTC)
        )
    )
