"""WhatsApp and Signal webhooks through the app: signed deliveries, threading, once each."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import col

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from services.intake.models import Attachment, Message, Ticket
from services.intake.tests.conftest import Auth
from shared.app import Runtime
from shared.auth import Scope
from shared.testing.asgi import serve

APP_SECRET = "wa-app-secret-for-tests"
VERIFY = "wa-verify-token"
SIGNAL_TOKEN = "signal-bridge-secret"
WA_PATH = "/v1/channels/whatsapp/webhook"
SIGNAL_PATH = "/v1/channels/signal/webhook"
NUMBER = "96170123456"
TEXT = "My account was taken over, they are posting as me"


@pytest.fixture
def settings(settings: IntakeSettings) -> IntakeSettings:
    return settings.model_copy(
        update={
            "whatsapp_verify_token": SecretStr(VERIFY),
            "whatsapp_app_secret": SecretStr(APP_SECRET),
            "signal_webhook_token": SecretStr(SIGNAL_TOKEN),
        }
    )


def wa_payload(*messages: dict[str, Any], name: str = "Hala") -> bytes:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550001111", "phone_number_id": "1234"},
        "contacts": [{"profile": {"name": name}, "wa_id": NUMBER}],
        "messages": list(messages),
    }
    body = {
        "object": "whatsapp_business_account",
        "entry": [{"id": "WABA", "changes": [{"field": "messages", "value": value}]}],
    }
    return json.dumps(body).encode()


def wa_text(text: str = TEXT, mid: str = "wamid.1", sender: str = NUMBER) -> dict[str, Any]:
    return {
        "from": sender,
        "id": mid,
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": text},
    }


def sign(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def deliver(client: httpx.AsyncClient, body: bytes) -> httpx.Response:
    response = await client.post(WA_PATH, content=body, headers=sign(body))
    assert response.status_code == 200, response.text
    return response


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def only_ticket(client: httpx.AsyncClient, runtime: Runtime, auth: Auth) -> dict[str, Any]:
    async with runtime.sessions() as session:
        (ticket_id,) = (await session.execute(select(col(Ticket.id)))).scalars().all()
    response = await client.get(f"/v1/tickets/{ticket_id}", headers=await auth(Scope.handler))
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


# --- WhatsApp -----------------------------------------------------------------


async def test_the_handshake_echoes_the_challenge_for_our_verify_token(
    client: httpx.AsyncClient,
) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY, "hub.challenge": "1158201444"}
    response = await client.get(WA_PATH, params=params)

    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "wrong", "hub.challenge": "1"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY, "hub.challenge": "1"},
        {"hub.mode": "subscribe", "hub.verify_token": "توكن", "hub.challenge": "1"},
        {},
    ],
)
async def test_the_handshake_is_refused_otherwise(
    client: httpx.AsyncClient, params: dict[str, str]
) -> None:
    response = await client.get(WA_PATH, params=params)

    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 401),
        ({"X-Hub-Signature-256": "sha256=" + "0" * 64}, 403),
        (sign(wa_payload(wa_text()), secret="another-secret"), 403),
        ({"X-Hub-Signature-256": "sha1=abc"}, 403),
    ],
)
async def test_an_unsigned_or_wrongly_signed_delivery_is_refused_and_nothing_stored(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str], status: int
) -> None:
    response = await client.post(WA_PATH, content=wa_payload(wa_text()), headers=headers)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert await count(runtime, Ticket) == 0
    assert await count(runtime, Message) == 0


async def test_a_signed_body_that_is_not_json_is_a_400_problem(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = b'{"entry": [ not json'
    response = await client.post(WA_PATH, content=body, headers=sign(body))

    assert response.status_code == 400
    assert response.json()["type"].endswith("invalid-payload")
    assert await count(runtime, Ticket) == 0


async def test_a_text_message_opens_a_ticket_with_its_contact_encrypted(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, db_path: Path
) -> None:
    response = await deliver(client, wa_payload(wa_text()))

    assert response.json() == {"received": 1, "stored": 1}
    ticket = await only_ticket(client, runtime, auth)
    assert ticket["channel"] == "whatsapp"
    assert ticket["requester"]["contact"]["channel"] == "whatsapp"
    assert ticket["requester"]["contact"]["handle"] == "+" + NUMBER
    assert ticket["requester"]["name"] == "Hala"
    assert [m["text"] for m in ticket["messages"]] == [TEXT]
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob("intake.db*"))
    assert NUMBER.encode() not in stored
    assert TEXT.encode() not in stored
    assert b"Hala" not in stored


async def test_a_second_message_from_the_same_number_joins_the_open_ticket(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    await deliver(client, wa_payload(wa_text()))
    await deliver(client, wa_payload(wa_text("They also have my email", mid="wamid.2")))

    ticket = await only_ticket(client, runtime, auth)
    assert [m["text"] for m in ticket["messages"]] == [TEXT, "They also have my email"]
    assert await count(runtime, Ticket) == 1


async def test_a_message_to_a_resolved_ticket_reopens_it(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    await deliver(client, wa_payload(wa_text()))
    ticket = await only_ticket(client, runtime, auth)
    headers = await auth(Scope.handler)
    for status in ("open", "resolved"):
        moved = await client.post(
            f"/v1/tickets/{ticket['id']}/status", json={"status": status}, headers=headers
        )
        assert moved.status_code == 200, moved.text

    await deliver(client, wa_payload(wa_text("It happened again", mid="wamid.3")))

    ticket = await only_ticket(client, runtime, auth)
    assert ticket["status"] == "open"
    assert len(ticket["messages"]) == 2


async def test_a_message_after_closure_opens_a_new_ticket_for_the_same_requester(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    await deliver(client, wa_payload(wa_text()))
    first = await only_ticket(client, runtime, auth)
    closed = await client.post(
        f"/v1/tickets/{first['id']}/close",
        json={"outcome": "resolved"},
        headers=await auth(Scope.handler),
    )
    assert closed.status_code == 200, closed.text

    await deliver(client, wa_payload(wa_text("A new problem", mid="wamid.4")))

    async with runtime.sessions() as session:
        tickets = (await session.execute(select(Ticket))).scalars().all()
    assert len(tickets) == 2
    assert len({t.requester_id for t in tickets}) == 1


async def test_a_redelivered_webhook_adds_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = wa_payload(wa_text(), wa_text("second", mid="wamid.2"))
    await deliver(client, body)

    again = await deliver(client, body)

    assert again.json() == {"received": 2, "stored": 0}
    assert await count(runtime, Ticket) == 1
    assert await count(runtime, Message) == 2


async def test_image_and_document_are_kept_as_evidence_metadata_without_fetching(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    image = {
        "from": NUMBER,
        "id": "wamid.img",
        "timestamp": "1700000001",
        "type": "image",
        "image": {"id": "media-111", "mime_type": "image/jpeg", "sha256": "abc="},
    }
    document = {
        "from": NUMBER,
        "id": "wamid.doc",
        "timestamp": "1700000002",
        "type": "document",
        "document": {
            "id": "media-222",
            "mime_type": "application/pdf",
            "filename": "threat.pdf",
            "caption": "The letter they sent",
        },
    }
    await deliver(client, wa_payload(image, document))

    ticket = await only_ticket(client, runtime, auth)
    texts = [m["text"] for m in ticket["messages"]]
    assert texts == ["[image]", "The letter they sent"]
    found = [a for m in ticket["messages"] for a in m["attachments"]]
    assert [(a["kind"], a["media_id"], a["mime_type"]) for a in found] == [
        ("image", "media-111", "image/jpeg"),
        ("document", "media-222", "application/pdf"),
    ]
    assert found[1]["filename"] == "threat.pdf"
    assert await count(runtime, Attachment) == 2


async def test_status_updates_are_acknowledged_and_ignored(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = json.dumps(
        {"entry": [{"changes": [{"value": {"statuses": [{"id": "wamid.x", "status": "read"}]}}]}]}
    ).encode()

    response = await deliver(client, body)

    assert response.json() == {"received": 0, "stored": 0}
    assert await count(runtime, Ticket) == 0


# --- Signal -------------------------------------------------------------------

SIGNAL_NUMBER = "+33612345678"


def signal_body(message: str | None = TEXT, timestamp: int = 1700000000000, **data: Any) -> bytes:
    envelope = {
        "source": SIGNAL_NUMBER,
        "sourceNumber": SIGNAL_NUMBER,
        "sourceUuid": "3f1b5b2e-0000-4000-8000-000000000001",
        "sourceName": "Nour",
        "sourceDevice": 1,
        "timestamp": timestamp,
        "dataMessage": {"timestamp": timestamp, "message": message, **data},
    }
    rpc = {"jsonrpc": "2.0", "method": "receive", "params": {"envelope": envelope}}
    return json.dumps(rpc).encode()


async def signal(
    client: httpx.AsyncClient, body: bytes, token: str | None = SIGNAL_TOKEN
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await client.post(SIGNAL_PATH, content=body, headers=headers)


@pytest.mark.parametrize(("token", "status"), [(None, 401), ("wrong", 403)])
async def test_signal_deliveries_without_the_bridge_secret_are_refused(
    client: httpx.AsyncClient, runtime: Runtime, token: str | None, status: int
) -> None:
    response = await signal(client, signal_body(), token)

    assert response.status_code == status
    assert await count(runtime, Message) == 0


async def test_signal_messages_thread_by_sender_and_are_stored_once(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, db_path: Path
) -> None:
    first = signal_body()
    assert (await signal(client, first)).json() == {"received": 1, "stored": 1}
    assert (await signal(client, first)).json() == {"received": 1, "stored": 0}
    second = signal_body(
        "Here is the screenshot",
        timestamp=1700000005000,
        attachments=[
            {"contentType": "image/png", "filename": "shot.png", "id": "att-1.png", "size": 10}
        ],
    )
    assert (await signal(client, second)).status_code == 200

    ticket = await only_ticket(client, runtime, auth)
    assert ticket["channel"] == "signal"
    assert ticket["requester"]["contact"] == {
        "channel": "signal",
        "handle": SIGNAL_NUMBER,
        "safe_times": None,
        "avoid": [],
    }
    assert [m["text"] for m in ticket["messages"]] == [TEXT, "Here is the screenshot"]
    (attachment,) = ticket["messages"][1]["attachments"]
    assert (attachment["kind"], attachment["media_id"]) == ("image", "att-1.png")
    stored = b"".join(p.read_bytes() for p in db_path.parent.glob("intake.db*"))
    assert SIGNAL_NUMBER.encode() not in stored
    assert b"Nour" not in stored


async def test_signal_receipts_and_malformed_bodies(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    receipt = json.dumps(
        {
            "jsonrpc": "2.0",
            "method": "receive",
            "params": {"envelope": {"source": SIGNAL_NUMBER, "timestamp": 1, "receiptMessage": {}}},
        }
    ).encode()

    assert (await signal(client, receipt)).json() == {"received": 0, "stored": 0}
    assert (await signal(client, b"\xff\xfe")).status_code == 400
    assert (await signal(client, b'{"jsonrpc": "2.0"}')).status_code == 400
    assert await count(runtime, Ticket) == 0


async def test_webhooks_answer_404_while_their_secrets_are_unset(tmp_path: Path) -> None:
    settings = IntakeSettings(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'intake.db'}",
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}",
        bus_enabled=False,
    )
    async with serve(create_app(settings)) as client:
        body = wa_payload(wa_text())
        responses = [
            await client.get(WA_PATH, params={"hub.mode": "subscribe"}),
            await client.post(WA_PATH, content=body, headers=sign(body)),
            await signal(client, signal_body()),
        ]

    assert [r.status_code for r in responses] == [404, 404, 404]
    assert all(r.headers["content-type"] == "application/problem+json" for r in responses)
