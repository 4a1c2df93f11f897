"""Triage's assignments and overrides shown on intake's tickets, and the list filtered by them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import httpx

from services.intake.consumers import consumers
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_tickets import submit
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    Category,
    Envelope,
    Priority,
    RepriorityReason,
    TicketAssigned,
    TicketAssignedData,
    TicketReprioritised,
    TicketReprioritisedData,
)

NOW = datetime.now(UTC)


def assigned(ticket_id: str, handler_id: str | None, at: datetime) -> TicketAssigned:
    return TicketAssigned(
        ticket_id=uuid.UUID(ticket_id),
        data=TicketAssignedData(
            handler_id=handler_id, automatic=True, actor_id="triage", assigned_at=at
        ),
    )


async def deliver(runtime: Runtime, event: Envelope) -> None:
    (spec,) = [s for s in consumers(runtime) if s.subject == event.type]
    async with runtime.writer_sessions() as session, session.begin():
        await spec.handler(session, event)


async def listed(client: httpx.AsyncClient, headers: dict[str, str], **query: str) -> list[str]:
    response = await client.get("/v1/tickets", params=query, headers=headers)
    assert response.status_code == 200, response.text
    return [t["id"] for t in response.json()["items"]]


async def test_the_list_filters_by_assigned_handler_and_by_unassigned(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    layla, omar, nobody = [(await submit(client))["id"] for _ in range(3)]
    await deliver(runtime, assigned(layla, "layla", NOW))
    await deliver(runtime, assigned(omar, "omar", NOW))
    headers = await auth(Scope.handler)

    assert await listed(client, headers, assigned_handler="layla") == [layla]
    assert await listed(client, headers, unassigned="true") == [nobody]
    ticket = (await client.get(f"/v1/tickets/{omar}", headers=headers)).json()
    assert ticket["assigned_handler_id"] == "omar"


async def test_a_late_older_assignment_does_not_undo_a_newer_one(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    ticket = (await submit(client))["id"]
    await deliver(runtime, assigned(ticket, "omar", NOW))
    await deliver(runtime, assigned(ticket, "layla", NOW - timedelta(minutes=5)))
    await deliver(runtime, assigned(ticket, None, NOW + timedelta(minutes=5)))
    headers = await auth(Scope.handler)
    assert await listed(client, headers, unassigned="true") == [ticket]


async def test_an_override_changes_the_priority_shown(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    ticket = (await submit(client))["id"]
    await deliver(
        runtime,
        TicketReprioritised(
            ticket_id=uuid.UUID(ticket),
            data=TicketReprioritisedData(
                reason=RepriorityReason.override,
                from_priority=Priority.P3,
                priority=Priority.P1,
                from_category=Category.account_compromise,
                category=Category.threats,
                actor_id="tok-handler",
                changed_at=NOW,
            ),
        ),
    )
    headers = await auth(Scope.handler)
    (item,) = (await client.get("/v1/tickets", headers=headers)).json()["items"]
    assert (item["category"], item["priority"]) == ("threats", "P1")


async def test_a_badly_formed_handler_filter_is_a_422(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    headers = await auth(Scope.handler)
    response = await client.get("/v1/tickets?assigned_handler=Not%20A%20Slug", headers=headers)
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
