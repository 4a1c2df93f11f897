"""Retention: a requester whose tickets have all been closed longer than the period is
erased by the scheduled job, through the same path as DELETE /v1/requesters/{id}."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlmodel import col

from services.intake import handling
from services.intake.config import IntakeSettings
from services.intake.main import create_app
from services.intake.models import AUDIT_TABLES, Requester, Ticket
from services.intake.retention import erase_expired
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_erasure import requester_of
from services.intake.tests.integration.test_tickets import TICKET, submit
from shared.app import Runtime
from shared.auth import Principal, Scope
from shared.contracts import Outcome, RequesterErased, decode
from shared.db import transaction
from shared.testing.asgi import runtime_of, serve

NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)
YEAR = timedelta(days=365)
HANDLER = Principal(token_id="handler-1", name="handler", scope=Scope.handler)


async def case(client: httpx.AsyncClient, auth: Auth, handle: str) -> tuple[str, uuid.UUID]:
    """A new ticket from its own requester: (ticket id, requester id)."""
    body = {**TICKET, "contact": {"channel": "whatsapp", "handle": handle}}
    ticket_id = (await submit(client, body))["id"]
    return ticket_id, uuid.UUID(await requester_of(client, ticket_id, auth))


async def close(runtime: Runtime, ticket_id: str, at: datetime) -> None:
    async with transaction(runtime.writer_sessions) as session:
        await handling.close_ticket(
            session=session,
            outbox=runtime.outbox,
            ticket_id=uuid.UUID(ticket_id),
            outcome=Outcome.advice_given,
            actor=HANDLER,
            now=at,
        )


async def reassign(runtime: Runtime, ticket_id: str, requester_id: uuid.UUID) -> None:
    """Make a ticket that person's second case (as a webhook does when a closed case's
    sender writes again)."""
    async with transaction(runtime.writer_sessions) as session:
        await session.execute(
            update(Ticket)
            .where(col(Ticket.id) == uuid.UUID(ticket_id))
            .values(requester_id=requester_id)
        )


async def keys_left(runtime: Runtime) -> dict[uuid.UUID, bool]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(col(Requester.id), col(Requester.wrapped_key)))).all()
    return {r.id: r.wrapped_key is not None for r in rows}


async def test_only_requesters_closed_longer_than_the_period_are_erased(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    old_ticket, old = await case(client, auth, "+961 70 000 001")
    recent_ticket, recent = await case(client, auth, "+961 70 000 002")
    _, still_open = await case(client, auth, "+961 70 000 003")
    await close(runtime, old_ticket, NOW - YEAR - timedelta(days=1))
    await close(runtime, recent_ticket, NOW - YEAR + timedelta(days=1))

    erased = await erase_expired(runtime, retention=YEAR, now=NOW)

    assert erased == [old]
    assert await keys_left(runtime) == {old: False, recent: True, still_open: True}
    async with runtime.sessions() as session:
        outbox = (await session.execute(select(runtime.outbox))).all()
        log = (await session.execute(select(AUDIT_TABLES[0]))).all()
    (event,) = [
        decode(r.payload, subject=r.subject)
        for r in outbox
        if r.subject == "sanad.intake.requester.erased"
    ]
    assert isinstance(event, RequesterErased)
    assert (event.data.requester_id, event.data.ticket_ids) == (old, (uuid.UUID(old_ticket),))
    assert {(r.token_id, r.object_id) for r in log if r.action == "erase"} == {
        ("system", str(old)),
        ("system", old_ticket),
    }
    assert await erase_expired(runtime, retention=YEAR, now=NOW) == []


async def test_a_requester_with_one_ticket_still_open_is_kept(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    first, requester = await case(client, auth, "+961 70 000 004")
    await close(runtime, first, NOW - 2 * YEAR)
    second, _ = await case(client, auth, "+961 70 000 005")
    await reassign(runtime, second, requester)

    assert await erase_expired(runtime, retention=YEAR, now=NOW) == []

    await close(runtime, second, NOW - YEAR - timedelta(days=1))
    assert await erase_expired(runtime, retention=YEAR, now=NOW) == [requester]


async def test_the_job_runs_in_the_service_and_stops_with_it(
    settings: IntakeSettings, auth: Auth
) -> None:
    fast = settings.model_copy(update={"retention_days": 1e-9, "retention_check_seconds": 0.01})
    app = create_app(fast)
    async with serve(app) as client:
        runtime = runtime_of(app)
        ticket_id, requester = await _closed_case(client, runtime)
        for _ in range(200):
            if not (await keys_left(runtime))[requester]:
                break
            await asyncio.sleep(0.01)
        assert (await keys_left(runtime))[requester] is False, ticket_id


async def _closed_case(client: httpx.AsyncClient, runtime: Runtime) -> tuple[str, uuid.UUID]:
    ticket_id = (await submit(client))["id"]
    await close(runtime, ticket_id, datetime.now(UTC) - timedelta(seconds=1))
    async with runtime.sessions() as session:
        rows: Any = (await session.execute(select(col(Requester.id)))).scalars().all()
    (requester,) = rows
    return ticket_id, requester
