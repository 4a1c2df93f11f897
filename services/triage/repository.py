"""Every query triage makes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.triage.models import TriageRecord


async def get(session: AsyncSession, ticket_id: uuid.UUID) -> TriageRecord | None:
    return await session.get(TriageRecord, ticket_id)


def add(session: AsyncSession, record: TriageRecord) -> None:
    session.add(record)
