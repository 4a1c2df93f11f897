"""Replies sent through the ticket's channel: a real aiosmtpd as the relay, a local HTTP
server standing in for the Graph API and signal-cli; failures retried, then recorded."""

from __future__ import annotations

import asyncio
import json
import smtplib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from pydantic import SecretStr
from sqlalchemy import select

from services.intake import outbound
from services.intake.config import IntakeSettings
from services.intake.main import create_app
from services.intake.models import Delivery
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_webhooks import sign, wa_payload, wa_text
from shared.app import Runtime
from shared.auth import Scope
from shared.testing.asgi import bearer, serve
from shared.testing.nats_server import free_port

HELPLINE = "help@sanad.test"
RANA = "rana.k@example.org"
NUMBER = "96170123456"
SIGNAL_NUMBER = "+96171999888"
SIGNAL_TOKEN = "signal-bridge-secret"
GRAPH_TOKEN = "graph-access-token"


# --- the stand-ins --------------------------------------------------------------------


class Relay:
    """A real SMTP server (aiosmtpd, in its own thread) that keeps what it is given."""

    def __init__(self) -> None:
        self.mails: list[tuple[Envelope, EmailMessage]] = []
        self.refuse_with: str | None = None

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.refuse_with:
            return self.refuse_with
        assert isinstance(envelope.content, bytes)
        parsed = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((envelope, parsed))
        return "250 OK"


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    handler = Relay()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield handler, controller.port
    finally:
        controller.stop()


@dataclass
class Platform:
    """What the fake Graph API and signal-cli received, and what they answer next."""

    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    # (status, body) answered in turn before the normal answer.
    scripted: list[tuple[int, Any]] = field(default_factory=list)


def _answer(platform: Platform, path: str, body: Any) -> tuple[int, Any]:
    if platform.scripted:
        return platform.scripted.pop(0)
    if path.endswith("/messages"):
        return 200, {"messaging_product": "whatsapp", "messages": [{"id": "wamid.OUT1"}]}
    results = [{"recipientAddress": {"number": SIGNAL_NUMBER}, "type": "SUCCESS"}]
    return 200, {"jsonrpc": "2.0", "id": body["id"], "result": {"timestamp": 1, "results": results}}


@pytest.fixture
def platform() -> Iterator[tuple[Platform, int]]:
    state = Platform()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length", "0"))
            body = json.loads(self.rfile.read(length))
            state.requests.append((self.path, dict(self.headers), body))
            status, answer = _answer(state, self.path, body)
            data = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state, server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def settings(
    settings: IntakeSettings, relay: tuple[Relay, int], platform: tuple[Platform, int]
) -> IntakeSettings:
    return settings.model_copy(
        update={
            "smtp_port": free_port(),
            "email_addresses": HELPLINE,
            "smtp_relay_host": "127.0.0.1",
            "smtp_relay_port": relay[1],
            "smtp_relay_security": "none",
            "whatsapp_app_secret": SecretStr("wa-app-secret-for-tests"),
            "whatsapp_graph_base": f"http://127.0.0.1:{platform[1]}/v21.0",
            "whatsapp_phone_number_id": "1234",
            "whatsapp_access_token": SecretStr(GRAPH_TOKEN),
            "signal_webhook_token": SecretStr(SIGNAL_TOKEN),
            "signal_rpc_url": f"http://127.0.0.1:{platform[1]}/api/v1/rpc",
            "signal_account": "+15550001111",
            "outbound_max_attempts": 3,
        }
    )


# --- helpers --------------------------------------------------------------------------


async def mail_in(settings: IntakeSettings, msg: EmailMessage) -> None:
    def _send() -> None:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            smtp.send_message(msg, from_addr=RANA, to_addrs=[HELPLINE])

    await asyncio.to_thread(_send)


def a_mail(text: str, subject: str = "Help", **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"Rana <{RANA}>"
    msg["To"] = HELPLINE
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def the_ticket(client: httpx.AsyncClient, auth: Auth) -> dict[str, Any]:
    headers = await auth(Scope.handler)
    (summary,) = (await client.get("/v1/tickets", headers=headers)).json()["items"]
    ticket: dict[str, Any] = (
        await client.get(f"/v1/tickets/{summary['id']}", headers=headers)
    ).json()
    return ticket


async def reply(client: httpx.AsyncClient, auth: Auth, ticket_id: str, text: str) -> dict[str, Any]:
    response = await client.post(
        f"/v1/tickets/{ticket_id}/messages",
        json={"text": text},
        headers=await auth(Scope.handler),
    )
    assert response.status_code == 201, response.text
    added: dict[str, Any] = response.json()
    return added


def delivery_of(ticket: dict[str, Any], message_id: str) -> tuple[Any, Any, Any]:
    (message,) = [m for m in ticket["messages"] if m["id"] == message_id]
    return message["delivery"], message["delivery_error"], message["delivery_attempts"]


async def whatsapp_in(client: httpx.AsyncClient) -> None:
    body = wa_payload(wa_text("My account was stolen"))
    response = await client.post("/v1/channels/whatsapp/webhook", content=body, headers=sign(body))
    assert response.status_code == 200, response.text


async def signal_in(client: httpx.AsyncClient) -> None:
    envelope = {
        "sourceNumber": SIGNAL_NUMBER,
        "sourceName": "Samir",
        "timestamp": 1700000000000,
        "dataMessage": {"timestamp": 1700000000000, "message": "They threaten me"},
    }
    rpc = {"jsonrpc": "2.0", "method": "receive", "params": {"envelope": envelope}}
    response = await client.post(
        "/v1/channels/signal/webhook",
        json=rpc,
        headers={"Authorization": f"Bearer {SIGNAL_TOKEN}"},
    )
    assert response.status_code == 200, response.text


# --- email ------------------------------------------------------------------------------


async def test_an_email_reply_goes_through_the_relay_and_its_answer_threads_back(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    settings: IntakeSettings,
    relay: tuple[Relay, int],
) -> None:
    first = a_mail("Someone hacked my account")
    await mail_in(settings, first)
    ticket = await the_ticket(client, auth)

    added = await reply(client, auth, ticket["id"], "غيّري كلمة المرور وفعّلي التحقق بخطوتين")
    assert added["delivery"] == "pending"
    assert await outbound.deliver_due(runtime) == 1

    ((envelope, sent),) = relay[0].mails
    assert envelope.rcpt_tos == [RANA]
    assert sent["From"] == HELPLINE
    assert sent["Subject"] == f"[{ticket['reference']}] رد من فريق المساعدة"
    assert sent["In-Reply-To"] == first["Message-ID"]
    body = sent.get_body()
    assert body is not None
    assert "غيّري كلمة المرور" in body.get_content()
    assert ticket["reference"] in body.get_content()
    after = await the_ticket(client, auth)
    assert delivery_of(after, added["id"]) == ("sent", None, 1)

    # The person answers our mail: no reference in the subject, only In-Reply-To.
    await mail_in(
        settings, a_mail("Done, thank you", subject="Re:", In_Reply_To=sent["Message-ID"])
    )
    threaded = await the_ticket(client, auth)
    assert [m["text"] for m in threaded["messages"]][-1] == "Done, thank you"
    assert await outbound.deliver_due(runtime) == 0


async def test_a_relay_that_refuses_for_good_fails_the_delivery(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    settings: IntakeSettings,
    relay: tuple[Relay, int],
) -> None:
    await mail_in(settings, a_mail("Help"))
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "Hello")
    relay[0].refuse_with = "554 5.7.1 Rejected"

    await outbound.deliver_due(runtime)

    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("failed", "smtp_554", 1)


async def test_a_relay_that_is_down_is_retried_with_backoff(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    await mail_in(settings, a_mail("Help"))
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "Hello")
    down = settings.model_copy(update={"smtp_relay_port": free_port()})
    runtime.settings = down
    now = datetime.now(UTC)

    await outbound.deliver_due(runtime, now=now)

    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("pending", "connection", 1)
    async with runtime.sessions() as session:
        (row,) = (await session.execute(select(Delivery))).scalars().all()
    assert row.next_attempt_at == now + timedelta(seconds=settings.outbound_retry_base_seconds)


# --- WhatsApp and Signal ------------------------------------------------------------------


async def test_a_whatsapp_reply_goes_through_the_cloud_api(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    platform: tuple[Platform, int],
) -> None:
    await whatsapp_in(client)
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "We are looking at it")

    await outbound.deliver_due(runtime)

    ((path, headers, body),) = platform[0].requests
    assert path == "/v21.0/1234/messages"
    assert headers["Authorization"] == f"Bearer {GRAPH_TOKEN}"
    assert body == {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": NUMBER,
        "type": "text",
        "text": {"preview_url": False, "body": "We are looking at it"},
    }
    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("sent", None, 1)


async def test_a_signal_reply_goes_through_signal_cli(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    platform: tuple[Platform, int],
) -> None:
    await signal_in(client)
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "Please keep the messages")

    await outbound.deliver_due(runtime)

    ((path, _, body),) = platform[0].requests
    assert path == "/api/v1/rpc"
    assert body["method"] == "send"
    assert body["params"] == {
        "recipient": [SIGNAL_NUMBER],
        "message": "Please keep the messages",
        "account": "+15550001111",
    }
    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("sent", None, 1)


async def test_a_failure_is_retried_later_and_then_sent(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    platform: tuple[Platform, int],
    settings: IntakeSettings,
) -> None:
    await whatsapp_in(client)
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "We are looking at it")
    platform[0].scripted.append((503, {"error": {"message": "try later"}}))
    now = datetime.now(UTC)

    assert await outbound.deliver_due(runtime, now=now) == 1
    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("pending", "http_503", 1)
    # Not due again before its backoff has passed.
    assert await outbound.deliver_due(runtime, now=now + timedelta(seconds=1)) == 0
    later = now + timedelta(seconds=settings.outbound_retry_base_seconds)
    assert await outbound.deliver_due(runtime, now=later) == 1

    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("sent", None, 2)
    assert len(platform[0].requests) == 2


async def test_retries_are_bounded(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    platform: tuple[Platform, int],
    settings: IntakeSettings,
) -> None:
    await signal_in(client)
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "Hello")
    platform[0].scripted += [(502, {})] * settings.outbound_max_attempts
    at = datetime.now(UTC)

    for _ in range(settings.outbound_max_attempts):
        assert await outbound.deliver_due(runtime, now=at) == 1
        at += timedelta(seconds=settings.outbound_retry_max_seconds)

    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("failed", "http_502", 3)
    assert await outbound.deliver_due(runtime, now=at) == 0


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ((400, {"error": {"code": 131030}}), "http_400"),
        (
            (200, {"jsonrpc": "2.0", "result": {"results": [{"type": "IDENTITY_FAILURE"}]}}),
            "signal_identity_changed",
        ),
        (
            (200, {"jsonrpc": "2.0", "result": {"results": [{"type": "UNREGISTERED_FAILURE"}]}}),
            "signal_unregistered",
        ),
    ],
)
async def test_a_permanent_refusal_fails_at_once(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    platform: tuple[Platform, int],
    answer: tuple[int, Any],
    error: str,
) -> None:
    await signal_in(client)
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "Hello")
    platform[0].scripted.append(answer)

    await outbound.deliver_due(runtime)

    assert delivery_of(await the_ticket(client, auth), added["id"]) == ("failed", error, 1)


# --- what is not sent -----------------------------------------------------------------------


async def test_a_channel_the_person_avoids_is_never_used(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    relay: tuple[Relay, int],
) -> None:
    submitted = await client.post(
        "/v1/tickets",
        json={
            "text": "My partner reads my mail",
            "channel": "email",
            "contact": {"channel": "email", "handle": RANA, "avoid": ["email"]},
        },
    )
    assert submitted.status_code == 202, submitted.text
    ticket_id = submitted.json()["id"]

    added = await reply(client, auth, ticket_id, "Hello")

    assert added["delivery"] == "withheld"
    assert await outbound.deliver_due(runtime) == 0
    assert relay[0].mails == []
    ticket = (
        await client.get(f"/v1/tickets/{ticket_id}", headers=await auth(Scope.handler))
    ).json()
    assert delivery_of(ticket, added["id"]) == ("withheld", "do_not_contact", 0)


async def test_a_channel_not_configured_is_reported_as_such(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    await whatsapp_in(client)
    ticket = await the_ticket(client, auth)
    added = await reply(client, auth, ticket["id"], "Hello")
    runtime.settings = settings.model_copy(update={"whatsapp_access_token": None})

    await outbound.deliver_due(runtime)

    assert delivery_of(await the_ticket(client, auth), added["id"]) == (
        "failed",
        "not_configured",
        1,
    )


async def test_notes_and_web_replies_are_not_queued(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    submitted = await client.post("/v1/tickets", json={"text": "Help", "channel": "web"})
    ticket_id = submitted.json()["id"]
    headers = await auth(Scope.handler)

    note = await client.post(
        f"/v1/tickets/{ticket_id}/messages", json={"text": "n", "internal": True}, headers=headers
    )
    web = await reply(client, auth, ticket_id, "Hello")

    assert note.json()["delivery"] is None
    assert web["delivery"] == "on_follow_up_page"
    assert await outbound.deliver_due(runtime) == 0


async def test_replies_to_an_erased_requester_are_dropped(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    platform: tuple[Platform, int],
) -> None:
    await whatsapp_in(client)
    ticket = await the_ticket(client, auth)
    await reply(client, auth, ticket["id"], "Hello")

    erased = await client.delete(
        f"/v1/requesters/{ticket['requester']['id']}", headers=await auth(Scope.coordinator)
    )
    assert erased.status_code == 200, erased.text

    assert await outbound.deliver_due(runtime) == 0
    assert platform[0].requests == []
    async with runtime.sessions() as session:
        (row,) = (await session.execute(select(Delivery))).scalars().all()
    assert (row.state, row.last_error) == ("failed", "erased")


async def test_the_job_sends_a_reply_once_queued_and_retries_when_due(
    settings: IntakeSettings, platform: tuple[Platform, int]
) -> None:
    # The job on, with a poll far longer than the test: only its wake-ups can send.
    running = settings.model_copy(
        update={"outbound_poll_seconds": 600, "outbound_retry_base_seconds": 0.05}
    )
    app = create_app(running)
    platform[0].scripted.append((503, {}))
    async with serve(app) as client:
        await whatsapp_in(client)
        headers = await bearer(app, Scope.handler)

        async def auth(_scope: Scope) -> dict[str, str]:
            return headers

        ticket = await the_ticket(client, auth)
        added = await reply(client, auth, ticket["id"], "We are on it")

        for _ in range(200):
            state = delivery_of(await the_ticket(client, auth), added["id"])
            if state[0] != "pending":
                break
            await asyncio.sleep(0.05)

    assert state == ("sent", None, 2)
    assert len(platform[0].requests) == 2
