"""Assignment: automatic on triage, set by a coordinator, taken by a handler; load and events."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.triage import consumers
from services.triage.followups import retriage
from services.triage.lexicon import Lexicon
from services.triage.models import AssignmentChange
from services.triage.tests.builders import closed, message_added
from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.events import staged
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import TicketAssigned
from shared.crypto import RecipientKeyPair
from shared.db import transaction
from shared.testing.events import RECEIVED_AT, requester_erased
from shared.testing.fixtures import Auth

ASSIGNED = "sanad.triage.ticket.assigned"
HACKED = "Someone hacked my email account and changed the password"
REASON = "canary-Salma-Aziz asked for a woman handler"


async def add(client: httpx.AsyncClient, auth: Auth, handler_id: str, **fields: Any) -> None:
    body = {"handler_id": handler_id, "label": handler_id.title(), "languages": ["en"], **fields}
    response = await client.post("/v1/roster", json=body, headers=await auth(Scope.coordinator))
    assert response.status_code == 201, response.text


async def assignment(client: httpx.AsyncClient, auth: Auth, ticket_id: uuid.UUID) -> Any:
    response = await client.get(f"/v1/triage/{ticket_id}", headers=await auth(Scope.coordinator))
    return response.json()["assignment"]


async def put(
    client: httpx.AsyncClient,
    ticket_id: uuid.UUID,
    body: dict[str, Any],
    headers: dict[str, str],
) -> httpx.Response:
    return await client.put(f"/v1/triage/{ticket_id}/assignment", json=body, headers=headers)


async def deliver(runtime: Runtime, event: Any) -> None:
    (spec,) = [s for s in consumers.consumers(runtime) if s.subject == event.type]
    async with transaction(runtime.writer_sessions) as session:
        await spec.handler(session, event)


async def linked_handler(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime, handler_id: str
) -> dict[str, str]:
    """A handler token linked to a new roster entry `handler_id`; its headers."""
    info, token = await runtime.token_store.create(name="test handler", scope=Scope.handler)
    await add(client, auth, handler_id, token_id=info.id)
    return {"Authorization": f"Bearer {token}"}


# --- automatic ----------------------------------------------------------------------


async def test_a_triaged_ticket_goes_to_a_reader_of_its_language_and_is_announced(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal", languages=["fr"])
    await add(client, auth, "badr", languages=["en"])

    ticket_id = await triaged(HACKED)

    shown = await assignment(client, auth, ticket_id)
    assert (shown["handler_id"], shown["automatic"], shown["actor_id"]) == ("badr", True, "triage")
    (event,) = await staged(runtime, ASSIGNED)
    assert isinstance(event, TicketAssigned)
    assert event.ticket_id == ticket_id
    assert (event.data.handler_id, event.data.previous_handler_id) == ("badr", None)
    assert (event.data.automatic, event.data.actor_id) == (True, "triage")


async def test_an_arabizi_ticket_goes_to_an_arabic_reader(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal", languages=["en", "fr"])
    await add(client, auth, "zaid", languages=["ar"])

    ticket_id = await triaged(
        "ya jama3a 7ada sara2 el account taba3i 3al insta w ghayyar el password"
    )

    assert (await assignment(client, auth, ticket_id))["handler_id"] == "zaid"


async def test_the_expert_in_the_category_is_preferred(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal")
    await add(client, auth, "badr", expertise=["account_compromise"])

    ticket_id = await triaged(HACKED)

    assert (await assignment(client, auth, ticket_id))["handler_id"] == "badr"


async def test_load_spreads_and_capacity_holds_below_p1(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal", max_open=1)
    await add(client, auth, "badr", max_open=1)

    first, second, third = [await triaged(HACKED) for _ in range(3)]

    holders = [(await assignment(client, auth, t))["handler_id"] for t in (first, second, third)]
    assert holders == ["amal", "badr", None]


async def test_a_p1_ticket_is_assigned_even_when_everyone_is_full(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal", max_open=1)
    await triaged(HACKED)

    urgent = await triaged("They posted my home address and said they will come to kill me")

    assert (await assignment(client, auth, urgent))["handler_id"] == "amal"


async def test_nobody_on_the_roster_leaves_the_ticket_unassigned_without_an_event(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged(HACKED)

    shown = await assignment(client, auth, ticket_id)
    assert (shown["handler_id"], shown["open"], shown["history"]) == (None, True, [])
    assert await staged(runtime, ASSIGNED) == []


async def test_re_triage_offers_an_unassigned_ticket_again(
    client: httpx.AsyncClient,
    auth: Auth,
    triaged: Triaged,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    ticket_id = await triaged(HACKED)
    await add(client, auth, "amal")

    event = message_added(
        ticket_id, text="Now they threaten to kill me", sealed_for=content_keys.public_key
    )
    async with transaction(runtime.writer_sessions) as session:
        await retriage(
            session=session,
            event=event,
            lexicon=lexicon,
            keys=content_keys,
            masters=runtime.extras["masters"],
            outbox=runtime.outbox,
        )

    assert (await assignment(client, auth, ticket_id))["handler_id"] == "amal"


async def test_closing_and_erasure_drop_the_load(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal")
    first, second = await triaged(HACKED), await triaged(HACKED)

    await deliver(runtime, closed(first, RECEIVED_AT))
    await deliver(runtime, requester_erased(ticket_ids=(second,)))

    roster = await client.get("/v1/roster/amal", headers=await auth(Scope.handler))
    assert roster.json()["open_tickets"] == 0
    load = await client.get("/v1/roster/workload", headers=await auth(Scope.coordinator))
    assert load.json()["handlers"][0]["open"] == 0


async def test_a_ticket_closed_before_triage_is_nobodys_load(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal")
    ticket_id = uuid.uuid4()
    await deliver(runtime, closed(ticket_id, RECEIVED_AT))

    await triaged(HACKED, ticket_id=ticket_id)

    shown = await assignment(client, auth, ticket_id)
    assert (shown["handler_id"], shown["open"]) == (None, False)


# --- by hand -------------------------------------------------------------------------


async def test_a_coordinator_reassigns_with_a_reason_kept_encrypted(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal")
    await add(client, auth, "badr")
    ticket_id = await triaged(HACKED)

    response = await put(
        client,
        ticket_id,
        {"handler_id": "badr", "reason": REASON},
        await auth(Scope.coordinator),
    )

    assert response.status_code == 200
    shown = response.json()["assignment"]
    assert (shown["handler_id"], shown["automatic"]) == ("badr", False)
    assert [h["handler_id"] for h in shown["history"]] == ["amal", "badr"]
    assert shown["history"][-1]["reason"] == REASON
    events = await staged(runtime, ASSIGNED)
    assert [(e.data.previous_handler_id, e.data.handler_id) for e in events] == [
        (None, "amal"),
        ("amal", "badr"),
    ]
    assert "Salma" not in events[-1].model_dump_json()
    async with runtime.sessions() as session:
        (sealed,) = [
            c.reason_sealed
            for c in (await session.scalars(select(AssignmentChange))).all()
            if c.reason_sealed
        ]
    assert b"Salma" not in sealed


async def test_a_coordinator_unassigns(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal")
    ticket_id = await triaged(HACKED)

    response = await put(client, ticket_id, {"handler_id": None}, await auth(Scope.coordinator))

    assert response.json()["assignment"]["handler_id"] is None
    assert (await staged(runtime, ASSIGNED))[-1].data.handler_id is None


async def test_the_same_handler_again_changes_nothing(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal")
    ticket_id = await triaged(HACKED)

    await put(client, ticket_id, {"handler_id": "amal"}, await auth(Scope.coordinator))

    assert len(await staged(runtime, ASSIGNED)) == 1


async def test_a_handler_on_the_roster_takes_a_free_ticket(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged(HACKED)
    headers = await linked_handler(client, auth, runtime, "nour")

    response = await put(client, ticket_id, {"handler_id": "nour"}, headers)

    assert response.status_code == 200
    shown = response.json()["assignment"]
    assert (shown["handler_id"], shown["automatic"]) == ("nour", False)


async def test_a_handler_cannot_take_a_ticket_someone_holds(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    await add(client, auth, "amal")
    ticket_id = await triaged(HACKED)
    headers = await linked_handler(client, auth, runtime, "nour")
    await client.patch(
        "/v1/roster/nour", json={"available": False}, headers=await auth(Scope.coordinator)
    )

    response = await put(client, ticket_id, {"handler_id": "nour"}, headers)

    assert response.status_code == 409


@pytest.mark.parametrize("target", ["amal", None])
async def test_a_handler_assigns_nobody_but_themselves(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime, target: str | None
) -> None:
    ticket_id = await triaged(HACKED)
    await add(client, auth, "amal", available=False)
    headers = await linked_handler(client, auth, runtime, "nour")
    await client.patch(
        "/v1/roster/nour", json={"available": False}, headers=await auth(Scope.coordinator)
    )

    response = await put(client, ticket_id, {"handler_id": target}, headers)

    assert response.status_code == 403
    assert response.json()["type"].endswith("only-for-themselves")


async def test_a_handler_not_on_the_roster_takes_nothing(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, "amal", available=False)
    ticket_id = await triaged(HACKED)

    response = await put(client, ticket_id, {"handler_id": "amal"}, await auth(Scope.handler))

    assert response.status_code == 403
    assert response.json()["type"].endswith("not-on-roster")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"handler_id": "ghost"}, 404),
        ({"handler_id": "Amal Haddad"}, 422),
        ({"handler_id": "amal", "reason": ""}, 422),
        ({"handler_id": "amal", "extra": 1}, 422),
        ({}, 422),
    ],
)
async def test_a_bad_assignment_is_a_problem(
    client: httpx.AsyncClient,
    auth: Auth,
    triaged: Triaged,
    body: dict[str, Any],
    status: int,
) -> None:
    await add(client, auth, "amal")
    ticket_id = await triaged(HACKED)

    response = await put(client, ticket_id, body, await auth(Scope.coordinator))

    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_assigning_a_ticket_not_triaged_is_a_404(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    await add(client, auth, "amal")

    response = await put(
        client, uuid.uuid4(), {"handler_id": "amal"}, await auth(Scope.coordinator)
    )

    assert response.status_code == 404
