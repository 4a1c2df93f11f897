"""SLA clocks through triage's events and its periodic check, on an injected clock."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

from services.triage import consumers
from services.triage.config import TriageSettings
from services.triage.jobs import check_once
from services.triage.main import create_app
from services.triage.models import OverrideRequest
from services.triage.service import override_triage, read_triage
from services.triage.tests.builders import closed, message_added, status_changed
from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.events import staged
from shared.app import Runtime
from shared.auth import Principal, Scope
from shared.contracts import Author, SlaBreached, TicketStatus
from shared.db import transaction
from shared.testing.asgi import runtime_of, serve
from shared.testing.events import RECEIVED_AT, requester_erased
from shared.testing.fixtures import Auth

HACKED = "Someone hacked my email account and changed the password"  # P2: 2 hours
BREACHED = "sanad.triage.sla.breached"


def at(minutes: float) -> datetime:
    return RECEIVED_AT + timedelta(minutes=minutes)


async def deliver(runtime: Runtime, event: Any) -> None:
    """Apply `event` with the handler triage's consumer table gives its subject."""
    (spec,) = [s for s in consumers.consumers(runtime) if s.subject == event.type]
    async with transaction(runtime.writer_sessions) as session:
        await spec.handler(session, event)


async def clock(runtime: Runtime, ticket_id: uuid.UUID, now: datetime) -> Any:
    async with runtime.sessions() as session:
        return (await read_triage(session=session, ticket_id=ticket_id, now=now)).sla


async def levels(runtime: Runtime) -> list[tuple[str, int]]:
    return [(e.data.level, e.data.percent) for e in await staged(runtime, BREACHED)]


async def test_triage_starts_the_clock_with_the_target_of_its_priority(
    runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = await triaged(HACKED)

    sla = await clock(runtime, ticket_id, at(30))

    assert (sla.state, sla.priority, sla.due_at) == ("running", "P2", at(120))
    assert sla.percent_elapsed == 25.0
    assert sla.level is None


async def test_the_check_announces_each_level_once_at_50_100_and_150_percent(
    runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = await triaged(HACKED)

    for minutes in (59, 60, 61, 120, 150, 180, 600):
        await check_once(runtime, at(minutes))

    assert await levels(runtime) == [("warning", 50), ("breached", 100), ("alert", 150)]
    (_, _, alert) = await staged(runtime, BREACHED)
    assert isinstance(alert, SlaBreached)
    assert alert.ticket_id == ticket_id
    assert (alert.data.priority, alert.data.target_seconds) == ("P2", 7200)
    assert (alert.data.due_at, alert.data.detected_at) == (at(120), at(180))


async def test_a_check_long_after_announces_only_the_highest_level(
    runtime: Runtime, triaged: Triaged
) -> None:
    await triaged(HACKED)

    await check_once(runtime, at(500))
    await check_once(runtime, at(501))

    assert await levels(runtime) == [("alert", 150)]


async def test_a_handlers_reply_stops_the_clock_but_an_internal_note_does_not(
    runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = await triaged(HACKED)

    await deliver(
        runtime, message_added(ticket_id, author=Author.handler, internal=True, at=at(10))
    )
    assert (await clock(runtime, ticket_id, at(11))).state == "running"
    await deliver(runtime, message_added(ticket_id, author=Author.handler, at=at(45)))
    await deliver(runtime, message_added(ticket_id, author=Author.handler, at=at(90)))

    sla = await clock(runtime, ticket_id, at(600))
    assert (sla.state, sla.stopped_at, sla.percent_elapsed) == ("responded", at(45), 37.5)
    await check_once(runtime, at(600))
    assert await levels(runtime) == []


async def test_waiting_on_the_requester_pauses_and_shifts_the_due_time(
    runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = await triaged(HACKED)
    waiting, open_ = TicketStatus.waiting_on_requester, TicketStatus.open

    await deliver(runtime, status_changed(ticket_id, open_, waiting, at(30)))
    await check_once(runtime, at(200))
    paused = await clock(runtime, ticket_id, at(200))
    await deliver(runtime, status_changed(ticket_id, waiting, open_, at(90)))

    assert (paused.state, paused.percent_elapsed) == ("paused", 25.0)
    resumed = await clock(runtime, ticket_id, at(100))
    assert (resumed.state, resumed.due_at, resumed.paused_seconds) == ("running", at(180), 3600)
    assert await levels(runtime) == []
    await check_once(runtime, at(119))
    await check_once(runtime, at(120))
    assert await levels(runtime) == [("warning", 50)]


async def test_a_closed_ticket_stops_its_clock(runtime: Runtime, triaged: Triaged) -> None:
    ticket_id = await triaged(HACKED)

    await deliver(runtime, closed(ticket_id, at(20)))
    await check_once(runtime, at(600))

    assert (await clock(runtime, ticket_id, at(600))).state == "closed"
    assert await levels(runtime) == []


async def test_events_before_triage_still_count_once_it_is_triaged(
    runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = uuid.uuid4()

    await deliver(runtime, message_added(ticket_id, author=Author.handler, at=at(15)))
    await triaged(HACKED, ticket_id=ticket_id)

    assert (await clock(runtime, ticket_id, at(600))).state == "responded"


async def test_a_lower_priority_lets_levels_not_reached_under_it_fire_again(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = await triaged(HACKED)
    await check_once(runtime, at(130))  # P2 breached
    body = {"category": "harassment", "flags": [], "priority": "P3", "reason": "calmer"}

    async with transaction(runtime.writer_sessions) as session:
        await override_triage(
            session=session,
            outbox=runtime.outbox,
            ticket_id=ticket_id,
            masters=runtime.extras["masters"],
            request=OverrideRequest.model_validate(body),
            actor=Principal(token_id="tok-1", name="test", scope=Scope.handler),
            now=at(131),
        )
    await check_once(runtime, at(240))
    await check_once(runtime, at(480))

    assert (await clock(runtime, ticket_id, at(480))).due_at == at(480)
    assert await levels(runtime) == [("breached", 100), ("warning", 50), ("breached", 100)]


async def test_clocks_survive_a_restart(settings: TriageSettings, triaged: Triaged) -> None:
    await triaged(HACKED)

    again = create_app(settings)
    async with serve(again):
        runtime = runtime_of(again)
        await check_once(runtime, at(125))
        assert await levels(runtime) == [("breached", 100)]


async def test_erasing_the_requester_drops_reasons_but_keeps_the_clock(
    runtime: Runtime, triaged: Triaged
) -> None:
    ticket_id = await triaged(HACKED)

    await deliver(runtime, requester_erased(ticket_ids=(ticket_id,)))

    async with runtime.sessions() as session:
        after = await read_triage(session=session, ticket_id=ticket_id, now=at(1))
    assert after.reasons == []
    assert after.sla is not None


# --- GET /v1/sla ----------------------------------------------------------------


@pytest.fixture
async def board(runtime: Runtime, triaged: Triaged) -> dict[str, uuid.UUID]:
    """Three open P2 tickets received 0, 70 and 130 minutes before now, one answered."""
    now = datetime.now(RECEIVED_AT.tzinfo)
    ids = {
        name: await triaged(HACKED, received_at=now - timedelta(minutes=minutes))
        for name, minutes in (("fresh", 0), ("at_risk", 70), ("breached", 130), ("answered", 200))
    }
    await deliver(runtime, message_added(ids["answered"], author=Author.handler, at=now))
    return ids


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("at_risk", ["at_risk"]),
        ("breached", ["breached"]),
        ("open", ["breached", "at_risk", "fresh"]),
    ],
)
async def test_coordinators_list_clocks_by_state(
    client: httpx.AsyncClient,
    auth: Auth,
    board: dict[str, uuid.UUID],
    state: str,
    expected: list[str],
) -> None:
    response = await client.get(f"/v1/sla?state={state}", headers=await auth(Scope.coordinator))

    assert response.status_code == 200
    names = {str(v): k for k, v in board.items()}
    assert [names[row["ticket_id"]] for row in response.json()] == expected


@pytest.mark.parametrize(("scope", "status"), [(None, 401), (Scope.handler, 403)])
async def test_the_sla_board_needs_a_coordinator(
    client: httpx.AsyncClient, auth: Auth, scope: Scope | None, status: int
) -> None:
    headers = await auth(scope) if scope else {}

    response = await client.get("/v1/sla", headers=headers)

    assert response.status_code == status


async def test_the_job_runs_with_the_service_and_stops_with_it(settings: TriageSettings) -> None:
    app = create_app(settings.model_copy(update={"sla_check_seconds": 30}))

    async with serve(app):
        (task,) = [t for t in asyncio.all_tasks() if t.get_name() == "sla-check"]
        assert not task.done()

    assert task.cancelled()
