"""record_triage: escalation keeps the latest triage of each ticket."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select

from services.escalation import records
from services.escalation.models import TriagedCase
from shared.app import Runtime
from shared.contracts import Category, Flag, Priority, TicketTriaged
from shared.db import transaction
from shared.messaging.consumer import PermanentError
from shared.testing.events import ticket_triaged


async def record(runtime: Runtime, event: TicketTriaged) -> None:
    async with transaction(runtime.writer_sessions) as session:
        await records.record_triage(session=session, event=event)


async def cases(runtime: Runtime) -> list[TriagedCase]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(TriagedCase))).scalars().all())


async def test_a_triaged_ticket_becomes_a_case(runtime: Runtime) -> None:
    event = ticket_triaged(
        category=Category.sextortion, priority=Priority.P2, flags=(Flag.minor, Flag.ongoing)
    )

    await record(runtime, event)

    (case,) = await cases(runtime)
    assert case.ticket_id == event.ticket_id
    assert (case.category, case.priority) == ("sextortion", "P2")
    assert case.flags == ["minor", "ongoing"]
    assert case.triaged_at == event.data.triaged_at


async def test_a_new_triage_of_the_same_ticket_updates_its_case(runtime: Runtime) -> None:
    first = ticket_triaged(category=Category.harassment, priority=Priority.P3)
    assert first.ticket_id is not None
    again = ticket_triaged(
        ticket_id=first.ticket_id,
        category=Category.threats,
        priority=Priority.P1,
        flags=(Flag.physical_threat,),
        triaged_at=first.data.triaged_at + timedelta(hours=1),
    )

    await record(runtime, first)
    await record(runtime, again)

    (case,) = await cases(runtime)
    assert (case.category, case.priority, case.flags) == ("threats", "P1", ["physical_threat"])
    assert case.triaged_at == again.data.triaged_at


async def test_cases_of_different_tickets_are_kept_apart(runtime: Runtime) -> None:
    await record(runtime, ticket_triaged(ticket_id=uuid.uuid4()))
    await record(runtime, ticket_triaged(ticket_id=uuid.uuid4()))

    assert len(await cases(runtime)) == 2


async def test_a_triage_without_a_ticket_id_is_a_permanent_error(runtime: Runtime) -> None:
    event = ticket_triaged().model_copy(update={"ticket_id": None})

    with pytest.raises(PermanentError):
        await record(runtime, event)
    assert await cases(runtime) == []
