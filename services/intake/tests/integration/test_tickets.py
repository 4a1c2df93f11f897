"""POST /v1/tickets and GET /v1/tickets/{id}: stored encrypted, read back by a handler."""

from __future__ import annotations

import asyncio
import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.intake.models import Message, Requester, Ticket
from services.intake.tests.conftest import Auth
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import TicketReceived, decode
from shared.crypto import RecipientKeyPair, open_sealed
from shared.groupcommit import GroupCommitter

NAME = "Yasmine Abou-Khalil"
HANDLE = "+961 71 555 208"
TEXT = "Someone took over my Instagram overnight and is messaging my sources as me."
TICKET: dict[str, Any] = {
    "text": TEXT,
    "channel": "whatsapp",
    "language": "en",
    "requester_role": "journalist",
    "country": "lb",
    "requester_name": NAME,
    "contact": {"channel": "whatsapp", "handle": HANDLE},
}
CANARY = "canary-9d41e7-Hala-Mansour"


async def submit(client: httpx.AsyncClient, body: dict[str, Any] | None = None) -> dict[str, Any]:
    response = await client.post("/v1/tickets", json=TICKET if body is None else body)
    assert response.status_code == 202, response.text
    accepted: dict[str, Any] = response.json()
    return accepted


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def outbox_rows(runtime: Runtime) -> list[Any]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(runtime.outbox))).all())


@pytest.fixture
async def accepted(client: httpx.AsyncClient) -> dict[str, Any]:
    return await submit(client)


# --- submitting ---------------------------------------------------------------


async def test_a_submitted_ticket_is_accepted_with_a_reference_and_a_token(
    accepted: dict[str, Any],
) -> None:
    assert set(accepted) == {"id", "reference", "received_at", "follow_up_token", "duplicate"}
    assert accepted["duplicate"] is False
    assert uuid.UUID(accepted["id"])
    assert re.fullmatch(r"SND-[0-9A-HJKMNP-TV-Z]{5}", accepted["reference"])
    assert accepted["received_at"].endswith("Z")
    assert len(accepted["follow_up_token"]) >= 32


async def test_the_smallest_ticket_is_just_its_text(client: httpx.AsyncClient) -> None:
    accepted = await submit(client, {"text": "j'ai besoin d'aide, mon compte est piraté"})

    assert accepted["reference"].startswith("SND-")


async def test_a_ticket_is_stored_with_its_requester_message_and_one_event(
    runtime: Runtime, accepted: dict[str, Any]
) -> None:
    async with runtime.sessions() as session:
        ticket = await session.get(Ticket, uuid.UUID(accepted["id"]))
        assert ticket is not None
        requester = await session.get(Requester, ticket.requester_id)
    assert ticket.reference == accepted["reference"]
    assert ticket.status == "new"
    assert ticket.follow_up_hash != accepted["follow_up_token"]
    assert requester is not None
    assert (requester.role, requester.country) == ("journalist", "LB")
    assert await count(runtime, Message) == 1
    (row,) = await outbox_rows(runtime)
    assert row.subject == "sanad.intake.ticket.received"


async def test_personal_fields_never_reach_the_database_file_in_clear(
    client: httpx.AsyncClient, db_path: Path
) -> None:
    await submit(client)

    files = [p for p in db_path.parent.iterdir() if p.name.startswith(db_path.name)]
    stored = b"".join(p.read_bytes() for p in files)
    assert any(p.name.endswith("-wal") for p in files)
    for secret in (NAME, HANDLE, "+96171555208", TEXT, "messaging my sources"):
        assert secret.encode() not in stored, secret


async def test_the_event_carries_the_text_sealed_for_triage_alone(
    runtime: Runtime, accepted: dict[str, Any], triage_keys: RecipientKeyPair
) -> None:
    (row,) = await outbox_rows(runtime)
    event = decode(row.payload, subject=row.subject)

    assert isinstance(event, TicketReceived)
    assert str(event.ticket_id) == accepted["id"]
    assert event.data.reference == accepted["reference"]
    assert (event.data.requester_role, event.data.country) == ("journalist", "LB")
    for secret in (NAME, HANDLE, TEXT):
        assert secret.encode() not in row.payload
    aad = f"sanad:ticket.received:{accepted['id']}".encode()
    assert open_sealed(triage_keys, event.data.sealed_text, aad=aad) == TEXT


# --- reading ------------------------------------------------------------------


async def test_a_handler_reads_the_ticket_decrypted(
    client: httpx.AsyncClient, accepted: dict[str, Any], auth: Auth
) -> None:
    response = await client.get(f"/v1/tickets/{accepted['id']}", headers=await auth(Scope.handler))

    assert response.status_code == 200
    ticket = response.json()
    assert ticket["reference"] == accepted["reference"]
    assert ticket["requester"]["name"] == NAME
    assert ticket["requester"]["contact"] == {
        "channel": "whatsapp",
        "handle": HANDLE,
        "safe_times": None,
        "avoid": [],
    }
    assert [m["text"] for m in ticket["messages"]] == [TEXT]
    assert ticket["triage"] is None
    assert "follow_up_token" not in response.text


async def test_reading_a_ticket_needs_a_token(
    client: httpx.AsyncClient, accepted: dict[str, Any]
) -> None:
    response = await client.get(f"/v1/tickets/{accepted['id']}")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert NAME not in response.text


@pytest.mark.parametrize("scope", [Scope.analyst, Scope.ops, Scope.partner])
async def test_reading_a_ticket_is_forbidden_outside_handling(
    client: httpx.AsyncClient, accepted: dict[str, Any], auth: Auth, scope: Scope
) -> None:
    response = await client.get(f"/v1/tickets/{accepted['id']}", headers=await auth(scope))

    assert response.status_code == 403
    assert NAME not in response.text


async def test_an_unknown_ticket_is_a_404_problem(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get(f"/v1/tickets/{uuid.uuid4()}", headers=await auth(Scope.handler))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/ticket-not-found")


# --- invalid requests ---------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"requester_name": CANARY},
        {**TICKET, "channel": CANARY},
        {**TICKET, "notes": CANARY},
        {**TICKET, "text": CANARY * 1000},
        {**TICKET, "country": CANARY},
        {**TICKET, "text": "   "},
        {**TICKET, "contact": {"channel": "pigeon", "handle": CANARY}},
        {**TICKET, "requester_role": CANARY},
    ],
    ids=[
        "missing-text",
        "unknown-channel",
        "extra-field",
        "text-too-long",
        "bad-country",
        "blank-text",
        "unknown-contact-channel",
        "unknown-role",
    ],
)
async def test_an_invalid_ticket_is_a_422_problem_that_does_not_echo_it(
    client: httpx.AsyncClient, runtime: Runtime, body: dict[str, Any]
) -> None:
    response = await client.post("/v1/tickets", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"]
    assert CANARY[:20] not in response.text
    assert await count(runtime, Ticket) == 0


async def test_a_body_that_is_not_json_is_a_422_problem(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/tickets", content=b"text=" + CANARY.encode(), headers={"content-type": "text/plain"}
    )

    assert response.status_code == 422
    assert CANARY not in response.text


# --- concurrency --------------------------------------------------------------


async def test_concurrent_tickets_share_group_commits(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    committer: GroupCommitter = runtime.extras["committer"]
    bodies = [{"text": f"ticket number {n}: my page was suspended"} for n in range(100)]

    responses = await asyncio.gather(*(client.post("/v1/tickets", json=b) for b in bodies))

    assert [r.status_code for r in responses] == [202] * 100
    assert len({r.json()["reference"] for r in responses}) == 100
    assert await count(runtime, Ticket) == 100
    assert len(await outbox_rows(runtime)) == 100
    assert committer.rowsets == 100
    assert committer.commits < 100
