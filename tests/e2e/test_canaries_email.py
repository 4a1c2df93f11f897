"""Canaries through email in (sender, name, subject, body, Message-ID, attachment) and replies
out through email, WhatsApp and Signal: readable through the handler API, delivered to the
stand-ins of the relay and the platforms, and nowhere in clear under var/ (databases, traces,
logs) or on the streams."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import smtplib
import threading
import uuid
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import nats
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session
from nats.js.errors import NotFoundError

from shared.auth import Scope
from shared.testing.nats_server import free_port
from shared.testing.stack import Stack, start_stack
from tests.e2e.conftest import eventually, read_tree

HELPLINE = "help@sanad.test"
APP_SECRET = secrets.token_hex(16)
SIGNAL_TOKEN = secrets.token_hex(16)


class _Relay:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        self.received.append(bytes(envelope.original_content or b""))
        return "250 OK"


class _Platforms:
    """The Graph API and signal-cli, as one local HTTP server that records bodies."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                outer.received.append(body)
                request = json.loads(body)
                answer: dict[str, Any] = (
                    {"messages": [{"id": f"wamid.{uuid.uuid4().hex}"}]}
                    if self.path.endswith("/messages")
                    else {
                        "jsonrpc": "2.0",
                        "id": request.get("id"),
                        "result": {"timestamp": 1, "results": [{"type": "SUCCESS"}]},
                    }
                )
                data = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def outside() -> Iterator[tuple[_Relay, int, _Platforms]]:
    relay = _Relay()
    controller = Controller(relay, hostname="127.0.0.1", port=free_port())
    controller.start()
    platforms = _Platforms()
    try:
        yield relay, controller.port, platforms
    finally:
        platforms.stop()
        controller.stop()


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory, outside: tuple[_Relay, int, _Platforms]
) -> Iterator[Stack]:
    _, relay_port, platforms = outside
    extra = {
        "INTAKE_SMTP_PORT": str(free_port()),
        "INTAKE_EMAIL_ADDRESSES": HELPLINE,
        "INTAKE_SMTP_RELAY_HOST": "127.0.0.1",
        "INTAKE_SMTP_RELAY_PORT": str(relay_port),
        "INTAKE_SMTP_RELAY_SECURITY": "none",
        "INTAKE_OUTBOUND_POLL_SECONDS": "0.2",
        "INTAKE_WHATSAPP_APP_SECRET": APP_SECRET,
        "INTAKE_WHATSAPP_GRAPH_BASE": f"http://127.0.0.1:{platforms.port}/v21.0",
        "INTAKE_WHATSAPP_PHONE_NUMBER_ID": "1234",
        "INTAKE_WHATSAPP_ACCESS_TOKEN": secrets.token_hex(8),
        "INTAKE_SIGNAL_WEBHOOK_TOKEN": SIGNAL_TOKEN,
        "INTAKE_SIGNAL_RPC_URL": f"http://127.0.0.1:{platforms.port}/api/v1/rpc",
        "INTAKE_RATE_LIMIT_PUBLIC_PER_MINUTE": "0",
        "INTAKE_RATE_LIMIT_TOKEN_PER_MINUTE": "0",
    }
    running = start_stack(tmp_path_factory.mktemp("var"), services=("intake",), extra_env=extra)
    try:
        yield running
    finally:
        running.stop()


def _canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:10]
    return {
        "mail_name": f"CanaryMailName{tag}",
        "mail_address": f"canary.mail.{tag}@example.org",
        "mail_subject": f"CanaryMailSubject{tag}",
        "mail_body": f"CanaryMailBody{tag}",
        "mail_message_id": f"canary.msgid.{tag}@example.org",
        "file_name": f"CanaryFileName{tag}.png",
        "file_content": f"CanaryFileContent{tag}",
        "wa_number": str(secrets.randbelow(10**11) + 10**11),
        "signal_number": str(secrets.randbelow(10**11) + 10**11),
        "reply_mail": f"CanaryReplyMail{tag}",
        "reply_wa": f"CanaryReplyWa{tag}",
        "reply_signal": f"CanaryReplySignal{tag}",
    }


def _mail_in(stack: Stack, c: dict[str, str]) -> None:
    msg = EmailMessage()
    msg["From"] = f"{c['mail_name']} <{c['mail_address']}>"
    msg["To"] = HELPLINE
    msg["Subject"] = f"Hacked account {c['mail_subject']}"
    msg["Message-ID"] = f"<{c['mail_message_id']}>"
    msg.set_content(f"Someone hacked my email account. {c['mail_body']}")
    msg.add_attachment(
        c["file_content"].encode(), maintype="image", subtype="png", filename=c["file_name"]
    )
    port = int(stack.env["INTAKE_SMTP_PORT"])
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as smtp:
        smtp.send_message(msg)


def _post(stack: Stack, path: str, body: bytes, headers: dict[str, str]) -> None:
    response = httpx.post(f"{stack.url('intake')}{path}", content=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.text


def _whatsapp_in(stack: Stack, c: dict[str, str]) -> None:
    message = {
        "from": c["wa_number"],
        "id": f"wamid.{uuid.uuid4().hex}",
        "timestamp": "1700000000",
        "type": "text",
        "text": {"body": "Someone hacked my WhatsApp"},
    }
    value = {"messaging_product": "whatsapp", "messages": [message]}
    body = json.dumps({"entry": [{"changes": [{"field": "messages", "value": value}]}]}).encode()
    digest = hmac.new(APP_SECRET.encode(), body, hashlib.sha256).hexdigest()
    headers = {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}
    _post(stack, "/v1/channels/whatsapp/webhook", body, headers)


def _signal_in(stack: Stack, c: dict[str, str]) -> None:
    envelope = {
        "sourceNumber": f"+{c['signal_number']}",
        "timestamp": 1700000000000,
        "dataMessage": {"timestamp": 1700000000000, "message": "They threaten me"},
    }
    body = json.dumps({"jsonrpc": "2.0", "method": "receive", "params": {"envelope": envelope}})
    headers = {"Authorization": f"Bearer {SIGNAL_TOKEN}", "Content-Type": "application/json"}
    _post(stack, "/v1/channels/signal/webhook", body.encode(), headers)


def _tickets(stack: Stack) -> dict[str, dict[str, Any]]:
    """Every ticket read in full by a handler, by channel."""
    url, headers = f"{stack.url('intake')}/v1/tickets", stack.auth(Scope.handler)
    items = httpx.get(url, params={"limit": 100}, headers=headers, timeout=10).json()["items"]
    tickets = [httpx.get(f"{url}/{t['id']}", headers=headers, timeout=10).json() for t in items]
    return {t["channel"]: t for t in tickets}


async def _every_event(url: str) -> list[bytes]:
    nc = await nats.connect(url)
    js = nc.jetstream()
    found: list[bytes] = []
    try:
        for info in await js.streams_info():
            for seq in range(max(1, info.state.first_seq), info.state.last_seq + 1):
                try:
                    msg = await js.get_msg(info.config.name or "", seq)
                except NotFoundError:
                    continue
                found.append((msg.data or b"") + repr(msg.headers).encode())
    finally:
        await nc.close()
    return found


def test_email_in_and_replies_out_leave_no_personal_data_in_clear(
    stack: Stack, outside: tuple[_Relay, int, _Platforms]
) -> None:
    relay, _, platforms = outside
    c = _canaries()
    _mail_in(stack, c)
    _whatsapp_in(stack, c)
    _signal_in(stack, c)

    def all_in() -> dict[str, dict[str, Any]] | None:
        found = _tickets(stack)
        return found if len(found) == 3 else None

    tickets = eventually(all_in)
    for channel, text in (
        ("email", c["reply_mail"]),
        ("whatsapp", c["reply_wa"]),
        ("signal", c["reply_signal"]),
    ):
        response = httpx.post(
            f"{stack.url('intake')}/v1/tickets/{tickets[channel]['id']}/messages",
            json={"text": text},
            headers=stack.auth(Scope.handler),
            timeout=10,
        )
        assert response.status_code == 201, response.text

    def all_sent() -> dict[str, dict[str, Any]] | None:
        now = _tickets(stack)
        states = [m["delivery"] for t in now.values() for m in t["messages"] if m["delivery"]]
        return now if states == ["sent"] * 3 else None

    tickets = eventually(all_sent)

    # Stored and sent: the handler API reads every canary back, the outside got the replies.
    email = tickets["email"]
    (attachment,) = email["messages"][0]["attachments"]
    content = httpx.get(
        f"{stack.url('intake')}/v1/tickets/{email['id']}/attachments/{attachment['id']}",
        headers=stack.auth(Scope.handler),
        timeout=10,
    ).content
    readable = json.dumps(tickets, ensure_ascii=False) + content.decode()
    missing = [k for k, v in c.items() if k != "mail_message_id" and v not in readable]
    assert missing == []
    (sent_mail,) = relay.received
    assert c["reply_mail"].encode() in sent_mail
    assert c["mail_address"].encode() in sent_mail
    assert f"In-Reply-To: <{c['mail_message_id']}>".encode() in sent_mail
    outside_bodies = b"".join(platforms.received)
    assert c["wa_number"].encode() in outside_bodies
    assert c["reply_signal"].encode() in outside_bodies

    files = read_tree(stack.var_dir)
    assert any(p.suffix == ".jsonl" for p in files), "spans were exported"
    assert any(p.name == "intake.log" and data for p, data in files.items())
    events = asyncio.run(_every_event(stack.nats_ops_url))
    assert events, "the streams hold intake's events"
    leaks = {
        field: [str(p.relative_to(stack.var_dir)) for p, data in files.items() if v in data]
        + [f"event:{e[:60]!r}" for e in events if v in e]
        for field, value in c.items()
        if (v := value.encode())
    }
    assert {k: v for k, v in leaks.items() if v} == {}
