"""GET /v1/queue: open tickets by priority, then due time, then received time; audited."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select

from services.triage.models import AUDIT_TABLES
from services.triage.tests.builders import closed, message_added
from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.test_assignment import add, deliver, put
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import Author
from shared.testing.events import RECEIVED_AT
from shared.testing.fixtures import Auth

URGENT = "They posted my home address and said they will come to kill me"
HACKED = "Someone hacked my email account and changed the password"
ADVICE = "Can you give me advice on how to use a password manager?"
LOG = AUDIT_TABLES[0]


def at(minutes: int) -> Any:
    return RECEIVED_AT + timedelta(minutes=minutes)


async def get_queue(client: httpx.AsyncClient, auth: Auth, **params: Any) -> Any:
    response = await client.get("/v1/queue", params=params, headers=await auth(Scope.handler))
    assert response.status_code == 200, response.text
    return response.json()


def ids(page: Any) -> list[uuid.UUID]:
    return [uuid.UUID(item["ticket_id"]) for item in page["items"]]


async def test_the_queue_orders_by_priority_then_due_time_then_received_time(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    advice = await triaged(ADVICE, received_at=at(0))
    answered = await triaged(HACKED, received_at=at(1))
    late = await triaged(HACKED, received_at=at(30))
    early = await triaged(HACKED, received_at=at(10))
    urgent = await triaged(URGENT, received_at=at(40))
    gone = await triaged(URGENT, received_at=at(2))
    await deliver(runtime, message_added(answered, author=Author.handler, at=at(5)))
    await deliver(runtime, closed(gone, at(50)))

    page = await get_queue(client, auth)

    # P1 first; among the P2s the soonest due, and the answered one (no clock running) last.
    assert ids(page) == [urgent, early, late, answered, advice]
    first = page["items"][0]
    assert set(first) == {
        "ticket_id",
        "priority",
        "category",
        "needs_review",
        "sla_state",
        "due_at",
        "received_at",
        "handler_id",
    }
    assert (first["priority"], first["category"], first["sla_state"]) == (
        "P1",
        "doxxing",
        "running",
    )
    assert page["items"][3]["sla_state"] == "responded"
    assert page["next_offset"] is None


async def test_the_queue_pages_and_each_page_is_audited(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    tickets = [await triaged(HACKED, received_at=at(n)) for n in range(3)]

    first = await get_queue(client, auth, limit=2)
    second = await get_queue(client, auth, limit=2, offset=first["next_offset"])

    assert ids(first) + ids(second) == tickets
    assert (first["next_offset"], second["next_offset"]) == (2, None)
    async with runtime.sessions() as session:
        rows = (await session.execute(select(LOG).order_by(LOG.c.seq))).all()
    assert [(r.action, r.object_id, r.actor_scope) for r in rows] == [
        ("read", str(t), "handler") for t in tickets
    ]


async def test_the_queue_filters_by_handler_and_unassigned(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal", max_open=1)
    held = await triaged(HACKED, received_at=at(0))
    free = await triaged(HACKED, received_at=at(1))

    assert ids(await get_queue(client, auth, handler_id="amal")) == [held]
    assert ids(await get_queue(client, auth, unassigned="true")) == [free]
    assert ids(await get_queue(client, auth, handler_id="nobody")) == []


async def test_a_coordinator_reassigning_moves_the_load_and_the_queue(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal")
    await add(client, auth, "badr")
    ticket_id = await triaged(HACKED)  # amal: both empty, first by id
    coordinator = await auth(Scope.coordinator)

    response = await put(client, ticket_id, {"handler_id": "badr"}, coordinator)

    assert response.status_code == 200, response.text
    load = (await client.get("/v1/roster/workload", headers=coordinator)).json()
    assert {h["handler_id"]: h["open"] for h in load["handlers"]} == {"amal": 0, "badr": 1}
    roster = (await client.get("/v1/roster", headers=coordinator)).json()
    assert {h["handler_id"]: h["open_tickets"] for h in roster} == {"amal": 0, "badr": 1}
    assert ids(await get_queue(client, auth, handler_id="badr")) == [ticket_id]
    assert ids(await get_queue(client, auth, handler_id="amal")) == []


async def test_bad_queue_parameters_are_problems(client: httpx.AsyncClient, auth: Auth) -> None:
    headers = await auth(Scope.handler)
    for params in ({"limit": 0}, {"limit": 201}, {"offset": -1}, {"handler_id": "Not A Slug"}):
        response = await client.get("/v1/queue", params=params, headers=headers)
        assert response.status_code == 422, params
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/queue", headers=await auth(Scope.analyst))).status_code == 403
