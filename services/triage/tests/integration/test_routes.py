"""GET /v1/triage/{id} and POST /v1/classify."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from services.triage.lexicon import Lexicon
from services.triage.models import TriageRecord
from services.triage.service import triage_ticket
from shared.app import Runtime
from shared.auth import Scope
from shared.crypto import RecipientKeyPair
from shared.db import transaction
from shared.testing.events import RECEIVED_AT, ticket_received
from shared.testing.fixtures import Auth


async def triage(
    runtime: Runtime, lexicon: Lexicon, keys: RecipientKeyPair, text: str
) -> uuid.UUID:
    event = ticket_received(text=text, sealed_for=keys.public_key)
    async with transaction(runtime.writer_sessions) as session:
        await triage_ticket(
            session=session,
            event=event,
            lexicon=lexicon,
            keys=keys,
            masters=runtime.extras["masters"],
            outbox=runtime.outbox,
        )
    assert event.ticket_id is not None
    return event.ticket_id


async def counts(runtime: Runtime) -> tuple[int, int]:
    async with runtime.sessions() as session:
        records = await session.scalar(select(func.count()).select_from(TriageRecord))
        outbox = await session.scalar(select(func.count()).select_from(runtime.outbox))
    return int(records or 0), int(outbox or 0)


# --- GET /v1/triage/{id} ------------------------------------------------------


async def test_a_handler_reads_the_triage_of_a_ticket(
    client: httpx.AsyncClient,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
    auth: Auth,
) -> None:
    ticket_id = await triage(
        runtime, lexicon, content_keys, "My phone was confiscated at the border this morning"
    )

    response = await client.get(f"/v1/triage/{ticket_id}", headers=await auth(Scope.handler))

    assert response.status_code == 200
    body = response.json()
    assert body["ticket_id"] == str(ticket_id)
    assert (body["category"], body["priority"], body["flags"]) == ("device_seizure", "P2", [])
    assert body["language"] == "en"
    assert any("device_seizure" in r for r in body["reasons"])
    assert body["received_at"] == RECEIVED_AT.isoformat().replace("+00:00", "Z")
    assert body["triaged_at"] > body["received_at"]


async def test_a_ticket_not_yet_triaged_is_a_404_problem(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    response = await client.get(f"/v1/triage/{uuid.uuid4()}", headers=await auth(Scope.handler))

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/triage-not-found")


@pytest.mark.parametrize(("scope", "status"), [(None, 401), (Scope.analyst, 403)])
async def test_reading_a_triage_needs_a_handler(
    client: httpx.AsyncClient, auth: Auth, scope: Scope | None, status: int
) -> None:
    headers = await auth(scope) if scope else {}

    response = await client.get(f"/v1/triage/{uuid.uuid4()}", headers=headers)

    assert response.status_code == status


# --- POST /v1/classify --------------------------------------------------------

ARREST: dict[str, Any] = {
    "text": "I need a lawyer for my brother, he was arrested last night",
    "requester_role": "private_person",
}


@pytest.mark.parametrize("scope", [Scope.service, Scope.handler])
async def test_classify_answers_like_triage_and_stores_nothing(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, scope: Scope
) -> None:
    before = await counts(runtime)

    response = await client.post("/v1/classify", json=ARREST, headers=await auth(scope))

    assert response.status_code == 200
    body = response.json()
    assert (body["category"], body["flags"], body["priority"]) == (
        "out_of_scope",
        ["detained"],
        "P1",
    )
    assert body["reasons"]
    assert await counts(runtime) == before


async def test_classify_marks_a_language_triage_does_not_read_for_review(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    body = {"text": "Alguien hackeó mi cuenta", "language": "es", "requester_role": "hrd"}

    response = await client.post("/v1/classify", json=body, headers=await auth(Scope.service))

    assert response.json()["language"] == "es"
    assert response.json()["needs_review"] is True


@pytest.mark.parametrize(("scope", "status"), [(None, 401), (Scope.analyst, 403)])
async def test_classify_needs_a_service_or_handler_token(
    client: httpx.AsyncClient, auth: Auth, scope: Scope | None, status: int
) -> None:
    headers = await auth(scope) if scope else {}

    response = await client.post("/v1/classify", json=ARREST, headers=headers)

    assert response.status_code == status


async def test_classify_rejects_an_invalid_body_without_echoing_it(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    canary = "canary-0b7c-Omar-Farouk"
    body = {"text": canary, "requester_role": canary}

    response = await client.post("/v1/classify", json=body, headers=await auth(Scope.service))

    assert response.status_code == 422
    assert canary not in response.text
