"""Every query escalation makes."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation.models import TriagedCase


async def get_case(session: AsyncSession, ticket_id: uuid.UUID) -> TriagedCase | None:
    return await session.get(TriagedCase, ticket_id)


def add_case(session: AsyncSession, case: TriagedCase) -> None:
    session.add(case)
