"""Reading what triage put in its outbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from shared.app import Runtime
from shared.contracts import decode


async def staged(runtime: Runtime, subject: str) -> list[Any]:
    """Events of `subject` in the outbox, oldest first."""
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox).order_by("id"))).all()
    return [decode(r.payload, subject=r.subject) for r in rows if r.subject == subject]
