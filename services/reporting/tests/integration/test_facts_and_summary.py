"""Events folded into one anonymous fact per ticket; a summary that suppresses small counts."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.reporting import service
from services.reporting.models import TicketFact
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    Category,
    Channel,
    Priority,
    RequesterRole,
    TicketReceived,
    TicketTriaged,
)
from shared.db import transaction
from shared.testing.events import RECEIVED_AT, ticket_received, ticket_triaged
from shared.testing.fixtures import Auth


async def record(runtime: Runtime, *events: TicketReceived | TicketTriaged) -> None:
    """Apply each event in its own transaction, as the consumers do."""
    for event in events:
        async with transaction(runtime.writer_sessions) as session:
            if isinstance(event, TicketReceived):
                await service.record_received(session=session, event=event)
            else:
                await service.record_triaged(session=session, event=event)


async def facts(runtime: Runtime) -> list[TicketFact]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(TicketFact))).scalars().all())


async def summary(runtime: Runtime) -> dict[str, Any]:
    async with runtime.sessions() as session:
        return (await service.summary(session=session, threshold=5)).model_dump()


async def ticket(
    runtime: Runtime, category: Category = Category.harassment, priority: Priority = Priority.P3
) -> None:
    ticket_id = uuid.uuid4()
    await record(
        runtime,
        ticket_received(ticket_id=ticket_id),
        ticket_triaged(ticket_id=ticket_id, category=category, priority=priority),
    )


@pytest.mark.parametrize("order", ["received-first", "triaged-first"])
async def test_both_events_of_a_ticket_make_one_fact_in_either_order(
    runtime: Runtime, order: str
) -> None:
    ticket_id = uuid.uuid4()
    received = ticket_received(
        ticket_id=ticket_id,
        channel=Channel.signal,
        requester_role=RequesterRole.lgbtq,
        country="MA",
    )
    triaged = ticket_triaged(
        ticket_id=ticket_id, category=Category.entrapment, priority=Priority.P1
    )
    events = (received, triaged) if order == "received-first" else (triaged, received)

    await record(runtime, *events)

    (fact,) = await facts(runtime)
    assert fact.ticket_id == ticket_id
    assert (fact.channel, fact.requester_role, fact.country) == ("signal", "lgbtq", "MA")
    assert (fact.category, fact.priority) == ("entrapment", "P1")
    assert fact.received_at == RECEIVED_AT
    assert fact.triaged_at == triaged.data.triaged_at


async def test_a_fact_keeps_nothing_of_the_sealed_text(runtime: Runtime) -> None:
    await record(runtime, ticket_received(sealed_text="sealed-blob-that-must-not-be-kept"))

    (fact,) = await facts(runtime)
    assert "sealed-blob-that-must-not-be-kept" not in repr(fact.model_dump())


async def test_an_empty_summary_shows_zeros(runtime: Runtime) -> None:
    assert await summary(runtime) == {
        "tickets_received": 0,
        "tickets_triaged": 0,
        "by_priority": {},
        "by_category": {},
    }


async def test_fewer_than_five_tickets_read_less_than_five(runtime: Runtime) -> None:
    for _ in range(4):
        await ticket(runtime)

    assert await summary(runtime) == {
        "tickets_received": "<5",
        "tickets_triaged": "<5",
        "by_priority": {"P3": "<5"},
        "by_category": {"harassment": "<5"},
    }


async def test_from_five_tickets_the_numbers_are_shown(runtime: Runtime) -> None:
    for _ in range(5):
        await ticket(runtime)

    result = await summary(runtime)
    assert (result["tickets_received"], result["tickets_triaged"]) == (5, 5)
    assert result["by_priority"] == {"P3": 5}


async def test_a_cell_that_the_total_would_reveal_is_withheld_too(runtime: Runtime) -> None:
    for _ in range(6):
        await ticket(runtime, Category.account_compromise, Priority.P2)
    await ticket(runtime, Category.threats, Priority.P1)
    await record(runtime, ticket_received())

    # 7 triaged - 6 would give the one P1 ticket away: the 6 is withheld as "x".
    assert await summary(runtime) == {
        "tickets_received": 8,
        "tickets_triaged": 7,
        "by_priority": {"P1": "<5", "P2": "x"},
        "by_category": {"account_compromise": "x", "threats": "<5"},
    }


async def test_an_analyst_reads_the_summary(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    for _ in range(5):
        await ticket(runtime, Category.doxxing, Priority.P1)

    response = await client.get("/v1/metrics/summary", headers=await auth(Scope.analyst))

    assert response.status_code == 200
    assert response.json() == {
        "tickets_received": 5,
        "tickets_triaged": 5,
        "by_priority": {"P1": 5},
        "by_category": {"doxxing": 5},
    }


@pytest.mark.parametrize(("scope", "status"), [(None, 401), (Scope.handler, 403)])
async def test_the_summary_needs_an_analyst(
    client: httpx.AsyncClient, auth: Auth, scope: Scope | None, status: int
) -> None:
    headers = await auth(scope) if scope else {}

    response = await client.get("/v1/metrics/summary", headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
