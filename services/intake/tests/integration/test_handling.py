"""The handler API: list with filters and cursors, replies and notes, the status lifecycle."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.intake import handling, repository
from services.intake.models import AUDIT_TABLES, Delivery
from services.intake.service import message_text_aad
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_tickets import TICKET, submit
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    Channel,
    TicketClosed,
    TicketMessageAdded,
    TicketStatusChanged,
    decode,
)
from shared.crypto import RecipientKeyPair, open_sealed

REPLY = "Please change your password from a device you trust, then tell us."
NOTE = "Looks like the same group as last month's phishing wave."


@pytest.fixture
async def headers(auth: Auth) -> dict[str, str]:
    return await auth(Scope.handler)


@pytest.fixture
async def ticket(client: httpx.AsyncClient) -> dict[str, Any]:
    return await submit(client)


async def events(runtime: Runtime, subject: str) -> list[Any]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    return [decode(r.payload, subject=r.subject) for r in rows if r.subject == subject]


async def move(
    client: httpx.AsyncClient, ticket_id: str, headers: dict[str, str], status: str
) -> httpx.Response:
    return await client.post(
        f"/v1/tickets/{ticket_id}/status", json={"status": status}, headers=headers
    )


async def listed(
    client: httpx.AsyncClient, headers: dict[str, str], **params: Any
) -> dict[str, Any]:
    response = await client.get("/v1/tickets", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


# --- listing ------------------------------------------------------------------


async def test_the_list_pages_through_every_ticket_once_newest_first(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    ids = [(await submit(client))["id"] for _ in range(7)]
    seen: list[str] = []
    cursor = None
    while True:
        page = await listed(client, headers, limit=3, **({"cursor": cursor} if cursor else {}))
        seen += [t["id"] for t in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break

    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))
    assert seen[0] == ids[-1]


async def test_the_list_shows_no_personal_field(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    response = await client.get("/v1/tickets", headers=headers)

    (item,) = response.json()["items"]
    assert item["reference"] == ticket["reference"]
    assert TICKET["text"] not in response.text
    assert TICKET["requester_name"] not in response.text
    assert "requester" not in item
    assert "messages" not in item


async def test_the_list_filters_by_status_channel_language_and_date(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    whatsapp = await submit(client)
    web = await submit(client, {"text": "aidez-moi", "language": "fr"})
    await move(client, web["id"], headers, "open")

    assert [t["id"] for t in (await listed(client, headers, status="open"))["items"]] == [web["id"]]
    assert [t["id"] for t in (await listed(client, headers, channel="whatsapp"))["items"]] == [
        whatsapp["id"]
    ]
    assert [t["id"] for t in (await listed(client, headers, language="fr"))["items"]] == [web["id"]]
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (await listed(client, headers, received_from=later))["items"] == []
    assert len((await listed(client, headers, received_before=later))["items"]) == 2


@pytest.mark.parametrize(
    "params",
    [
        {"cursor": "not-a-cursor"},
        {"cursor": "W10"},
        {"status": "pending"},
        {"limit": 0},
        {"received_from": "2026-01-01T00:00:00"},
    ],
    ids=["garbage-cursor", "empty-json-cursor", "unknown-status", "zero-limit", "naive-date"],
)
async def test_bad_list_parameters_are_4xx_problems(
    client: httpx.AsyncClient, headers: dict[str, str], params: dict[str, Any]
) -> None:
    response = await client.get("/v1/tickets", params=params, headers=headers)

    assert 400 <= response.status_code < 500
    assert response.headers["content-type"] == "application/problem+json"


async def test_listing_is_audited_per_ticket_shown(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    await listed(client, headers)

    async with runtime.sessions() as session:
        rows = (await session.execute(select(AUDIT_TABLES[0]))).all()
    assert [(r.action, r.object_type, r.object_id) for r in rows] == [
        ("read", "ticket", ticket["id"])
    ]


@pytest.mark.parametrize("scope", [Scope.analyst, Scope.ops, Scope.partner, Scope.service])
async def test_listing_is_for_handlers_and_coordinators(
    client: httpx.AsyncClient, auth: Auth, scope: Scope
) -> None:
    assert (await client.get("/v1/tickets", headers=await auth(scope))).status_code == 403


# --- messages -----------------------------------------------------------------


async def test_a_reply_is_stored_recorded_for_delivery_and_published_without_text(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/messages", json={"text": REPLY}, headers=headers
    )

    assert response.status_code == 201, response.text
    added = response.json()
    assert (added["internal"], added["delivery"]) == (False, "pending")
    (event,) = await events(runtime, "sanad.intake.ticket.message_added")
    assert isinstance(event, TicketMessageAdded)
    assert (event.data.author, event.data.channel, event.data.internal) == (
        "handler",
        "whatsapp",
        False,
    )
    assert event.data.sealed_text is None
    async with runtime.sessions() as session:
        (delivery,) = (await session.execute(select(Delivery))).scalars().all()
    assert (delivery.channel, delivery.state) == ("whatsapp", "pending")
    read = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
    assert [(m["author"], m["text"], m["delivery"]) for m in read["messages"]][1] == (
        "handler",
        REPLY,
        "pending",
    )


async def test_a_reply_on_a_web_ticket_waits_on_the_follow_up_page(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    web = await submit(client, {"text": "help"})
    response = await client.post(
        f"/v1/tickets/{web['id']}/messages", json={"text": REPLY}, headers=headers
    )

    assert response.json()["delivery"] == "on_follow_up_page"


async def test_an_internal_note_is_not_delivered(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/messages",
        json={"text": NOTE, "internal": True},
        headers=headers,
    )

    assert (response.json()["internal"], response.json()["delivery"]) == (True, None)
    (event,) = await events(runtime, "sanad.intake.ticket.message_added")
    assert event.data.internal is True
    read = (await client.get(f"/v1/tickets/{ticket['id']}", headers=headers)).json()
    assert read["messages"][1]["internal"] is True


@pytest.mark.parametrize(
    "body",
    [{}, {"text": ""}, {"text": "x" * 20_001}, {"text": "hi", "to": "everyone"}],
    ids=["no-text", "empty", "too-long", "unknown-field"],
)
async def test_an_invalid_message_is_a_422(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any], body: Any
) -> None:
    response = await client.post(f"/v1/tickets/{ticket['id']}/messages", json=body, headers=headers)

    assert response.status_code == 422


async def test_a_message_to_an_unknown_ticket_is_a_404(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    response = await client.post(
        f"/v1/tickets/{uuid.uuid4()}/messages", json={"text": REPLY}, headers=headers
    )

    assert response.status_code == 404


# --- lifecycle ----------------------------------------------------------------


async def test_a_ticket_walks_its_lifecycle_with_an_event_per_step(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    for status in ("open", "waiting_on_requester", "open", "resolved"):
        response = await move(client, ticket["id"], headers, status)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == status
    closed = await client.post(
        f"/v1/tickets/{ticket['id']}/close", json={"outcome": "advice_given"}, headers=headers
    )

    assert closed.status_code == 200
    assert (closed.json()["status"], closed.json()["outcome"]) == ("closed", "advice_given")
    changes = await events(runtime, "sanad.intake.ticket.status_changed")
    assert all(isinstance(e, TicketStatusChanged) for e in changes)
    assert [(e.data.from_status, e.data.to_status) for e in changes] == [
        ("new", "open"),
        ("open", "waiting_on_requester"),
        ("waiting_on_requester", "open"),
        ("open", "resolved"),
        ("resolved", "closed"),
    ]
    (closing,) = await events(runtime, "sanad.intake.ticket.closed")
    assert isinstance(closing, TicketClosed)
    assert closing.data.outcome == "advice_given"
    async with runtime.sessions() as session:
        rows = (await session.execute(select(AUDIT_TABLES[0]))).all()
    assert [r.action for r in rows] == ["update"] * 5


@pytest.mark.parametrize(
    ("path", "target"),
    [
        ([], "resolved"),
        ([], "new"),
        (["open"], "open"),
        (["open"], "closed"),
    ],
    ids=["new-to-resolved", "back-to-new", "same-status", "close-without-outcome"],
)
async def test_an_invalid_transition_is_a_409_problem(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    ticket: dict[str, Any],
    path: list[str],
    target: str,
) -> None:
    for status in path:
        assert (await move(client, ticket["id"], headers, status)).status_code == 200
    response = await move(client, ticket["id"], headers, target)

    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/invalid-transition")
    assert len(await events(runtime, "sanad.intake.ticket.status_changed")) == len(path)


async def test_a_closed_ticket_cannot_be_closed_again_or_replied_to(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    url = f"/v1/tickets/{ticket['id']}"
    assert (
        await client.post(f"{url}/close", json={"outcome": "duplicate"}, headers=headers)
    ).status_code == 200

    again = await client.post(f"{url}/close", json={"outcome": "resolved"}, headers=headers)
    reply = await client.post(f"{url}/messages", json={"text": REPLY}, headers=headers)
    note = await client.post(
        f"{url}/messages", json={"text": NOTE, "internal": True}, headers=headers
    )

    assert (again.status_code, reply.status_code, note.status_code) == (409, 409, 201)


async def test_an_unknown_outcome_is_a_422(
    client: httpx.AsyncClient, headers: dict[str, str], ticket: dict[str, Any]
) -> None:
    response = await client.post(
        f"/v1/tickets/{ticket['id']}/close", json={"outcome": "solved-ish"}, headers=headers
    )

    assert response.status_code == 422


async def test_a_requester_message_seals_its_text_and_reopens_the_ticket(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    ticket: dict[str, Any],
    triage_keys: RecipientKeyPair,
) -> None:
    await move(client, ticket["id"], headers, "open")
    await move(client, ticket["id"], headers, "waiting_on_requester")
    async with runtime.writer_sessions() as session, session.begin():
        row = await repository.get_ticket(session, uuid.UUID(ticket["id"]))
        assert row is not None
        message_id = await handling.add_requester_message(
            session=session,
            keys=runtime.extras["keys"],
            outbox=runtime.outbox,
            ticket=row,
            text="They changed the recovery email too.",
            channel=Channel.whatsapp,
        )

    (added,) = await events(runtime, "sanad.intake.ticket.message_added")
    assert added.data.sealed_text is not None
    aad = message_text_aad(message_id)
    assert open_sealed(triage_keys, added.data.sealed_text, aad=aad).startswith("They changed")
    last = (await events(runtime, "sanad.intake.ticket.status_changed"))[-1]
    assert (last.data.from_status, last.data.to_status, last.data.actor_id) == (
        "waiting_on_requester",
        "open",
        "requester",
    )
