"""A platform silent past its time: the reminder also reaches the notification hook.

A real HTTP server on 127.0.0.1 stands in for the helpline's pager or chat webhook.
It answers 503 once, then 204: the notice is retried after its backoff, signed,
and holds ids, states and times only, never the escalation's content.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.escalation import jobs
from services.escalation.config import EscalationSettings
from services.escalation.models import NOTICES
from services.escalation.tests.integration.test_escalations import (
    HANDLE,
    URL,
    move,
    open_one,
    seed,
)
from shared.app import Runtime
from shared.notify import SIGNATURE_HEADER, deliver_due
from shared.testing.fixtures import Auth, sqlite_settings

SECRET = "hook-secret-for-tests"


class Hook:
    """Records each POST; answers the statuses given, then 204."""

    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[tuple[bytes, str]] = []


@pytest.fixture
def hook() -> Iterator[tuple[Hook, str]]:
    recorder = Hook([503])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            recorder.received.append((body, self.headers.get(SIGNATURE_HEADER, "")))
            status = recorder.statuses.pop(0) if recorder.statuses else 204
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder, f"http://127.0.0.1:{server.server_address[1]}/hook"
    finally:
        server.shutdown()
        thread.join(timeout=5)


@pytest.fixture
def settings(tmp_path: Path, hook: tuple[Hook, str]) -> EscalationSettings:
    return sqlite_settings(
        EscalationSettings,
        tmp_path,
        notify_webhook_url=hook[1],
        notify_webhook_secret=SECRET,
        # The test runs each pass itself, on its own clock.
        notify_check_seconds=0,
        reminder_check_seconds=0,
    )


async def test_a_reminder_is_posted_signed_with_ids_only_and_retried(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    settings: EscalationSettings,
    hook: tuple[Hook, str],
) -> None:
    recorder, _ = hook
    ticket_id, _ = await seed(runtime)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]
    due = datetime.fromisoformat(
        (await move(client, auth, escalation_id, "submitted")).json()["response_due_at"]
    )
    late = due + timedelta(minutes=1)
    assert await jobs.check_once(runtime, now=late) == 1

    config = settings.notify_config()
    async with httpx.AsyncClient() as http:
        assert await deliver_due(runtime, NOTICES, config, http, now=late) == 0  # the 503
        assert await deliver_due(runtime, NOTICES, config, http, now=late) == 0  # backing off
        later = late + timedelta(seconds=config.backoff_seconds)
        assert await deliver_due(runtime, NOTICES, config, http, now=later) == 1

    assert len(recorder.received) == 2
    body, signed = recorder.received[-1]
    assert hmac.compare_digest(
        signed, "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    )
    notice = json.loads(body)
    assert notice["type"] == "sanad.escalation.reminder"
    assert (notice["escalation_id"], notice["ticket_id"]) == (escalation_id, str(ticket_id))
    assert (notice["platform"], notice["state"], notice["reminders_sent"]) == (
        "meta",
        "submitted",
        1,
    )
    assert URL.encode() not in body
    assert HANDLE.encode() not in body
    async with runtime.sessions() as session:
        rows = (await session.execute(select(NOTICES.c.status, NOTICES.c.attempts))).all()
    assert [tuple(r) for r in rows] == [("done", 2)]
