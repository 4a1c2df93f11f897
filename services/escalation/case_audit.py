"""Escalation's audit entries: the audit log knows tickets, and escalations and referrals
are parts of their ticket's case."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation.models import AUDIT_TABLES
from shared import audit
from shared.audit import ObjectType
from shared.auth import Principal


async def record_ticket(
    session: AsyncSession,
    actor: Principal,
    action: audit.Action,
    ticket_id: uuid.UUID,
    now: datetime,
) -> None:
    """One entry: `actor` did `action` on (a part of) ticket `ticket_id`."""
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=action,
        objects=[(ObjectType.ticket, str(ticket_id))],
        now=now,
    )
