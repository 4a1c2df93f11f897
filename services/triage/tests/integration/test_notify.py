"""The lead-page webhook: ids only, HMAC-signed, retried with backoff against a local server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.triage.config import TriageSettings
from services.triage.lexicon import Lexicon
from services.triage.main import create_app
from services.triage.models import NOTICES
from services.triage.tests.integration.test_lead_paging import URGENT, add, triage_at
from shared.app import Runtime
from shared.crypto import RecipientKeyPair
from shared.notify import deliver_due
from shared.testing.asgi import runtime_of, serve
from shared.testing.fixtures import Auth, sqlite_settings

SECRET = "webhook-secret-for-tests"
PAGED_AT = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)


@dataclass
class Hook:
    """A local webhook answering with `statuses` in turn (then 204), keeping what it got."""

    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def hook() -> Iterator[Hook]:
    state = Hook(statuses=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            state.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(state.statuses.pop(0) if state.statuses else 204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/sanad"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def settings(tmp_path: Path, hook: Hook) -> TriageSettings:
    return sqlite_settings(
        TriageSettings,
        tmp_path,
        sla_check_seconds=0,
        # The test runs the delivery passes itself, on an injected clock.
        notify_check_seconds=0,
        notify_webhook_url=hook.url,
        notify_webhook_secret=SECRET,
        notify_backoff_seconds=10,
        notify_max_attempts=3,
    )


@pytest.fixture
async def http() -> Any:
    async with httpx.AsyncClient(timeout=5) as client:
        yield client


async def page_of(runtime: Runtime, ticket_id: Any) -> Any:
    """The webhook notice of a ticket's page (one per page)."""
    async with runtime.sessions() as session:
        rows = (await session.execute(select(NOTICES))).all()
    (row,) = [r for r in rows if json.loads(r.body)["ticket_id"] == str(ticket_id)]
    return row


async def deliver(runtime: Runtime, http: httpx.AsyncClient, *, now: datetime) -> int:
    settings = runtime.settings
    assert isinstance(settings, TriageSettings)
    return await deliver_due(runtime, NOTICES, settings.notify_config(), http, now=now)


async def test_a_failed_post_is_retried_after_backoff_then_acknowledged(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
    hook: Hook,
    http: httpx.AsyncClient,
) -> None:
    await add(client, auth, "nour", lead=True)
    ticket_id = await triage_at(runtime, lexicon, content_keys, URGENT, PAGED_AT)
    hook.statuses = [503]

    assert await deliver(runtime, http, now=PAGED_AT) == 0
    page = await page_of(runtime, ticket_id)
    assert (page.status, page.attempts, page.last_http_status) == ("due", 1, 503)
    assert page.next_attempt_at == PAGED_AT + timedelta(seconds=10)
    # Not due yet: nothing is sent.
    assert await deliver(runtime, http, now=PAGED_AT + timedelta(seconds=9)) == 0
    assert len(hook.received) == 1
    assert await deliver(runtime, http, now=PAGED_AT + timedelta(seconds=10)) == 1

    page = await page_of(runtime, ticket_id)
    assert (page.status, page.attempts, page.next_attempt_at) == ("done", 2, None)
    assert len(hook.received) == 2
    headers, body = hook.received[-1]
    expected = hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["x-sanad-signature-256"] == f"sha256={expected}"
    sent = json.loads(body)
    assert sent == {
        "type": "sanad.triage.lead.paged",
        "ticket_id": str(ticket_id),
        "priority": "P1",
        "lead_id": "nour",
        "reason": "p1",
        "paged_at": PAGED_AT.isoformat(),
        "sent_by": "sanad",
    }
    for words in (b"home address", b"kill"):
        assert words not in body
    # Acknowledged: never sent again.
    assert await deliver(runtime, http, now=PAGED_AT + timedelta(hours=1)) == 0
    assert len(hook.received) == 2


async def test_a_refusal_is_final_and_retries_are_bounded(
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
    hook: Hook,
    http: httpx.AsyncClient,
) -> None:
    refused = await triage_at(runtime, lexicon, content_keys, URGENT, PAGED_AT)
    hook.statuses = [400]
    await deliver(runtime, http, now=PAGED_AT)
    page = await page_of(runtime, refused)
    assert (page.status, page.attempts, page.last_error) == ("failed", 1, "http-400")

    failing = await triage_at(runtime, lexicon, content_keys, URGENT, PAGED_AT)
    hook.statuses = [500, 502, 503, 504]
    for seconds in (0, 10, 30, 70, 150):
        await deliver(runtime, http, now=PAGED_AT + timedelta(seconds=seconds))
    page = await page_of(runtime, failing)
    assert (page.status, page.attempts) == ("failed", 3)
    assert len(hook.received) == 1 + 3


async def test_a_page_too_old_is_dropped_unsent(
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
    hook: Hook,
    http: httpx.AsyncClient,
) -> None:
    ticket_id = await triage_at(runtime, lexicon, content_keys, URGENT, PAGED_AT)

    await deliver(runtime, http, now=PAGED_AT + timedelta(days=1))

    assert (await page_of(runtime, ticket_id)).status == "expired"
    assert hook.received == []


async def test_the_job_delivers_a_new_page_on_its_own(tmp_path: Path, hook: Hook) -> None:
    """With the job running, the commit that queues a page wakes it (no clock injected)."""
    live = sqlite_settings(
        TriageSettings,
        tmp_path / "live",
        sla_check_seconds=0,
        notify_check_seconds=0.01,
        notify_webhook_url=hook.url,
    )
    app = create_app(live)
    async with serve(app):
        runtime = runtime_of(app)
        keys: RecipientKeyPair = runtime.extras["content_keys"]
        ticket_id = await triage_at(
            runtime, runtime.extras["lexicon"], keys, URGENT, datetime.now(UTC)
        )
        for _ in range(500):
            page = await page_of(runtime, ticket_id)
            if page.status != "due":
                break
            await asyncio.sleep(0.01)
    assert page.status == "done"
    ((headers, _),) = hook.received
    assert "x-sanad-signature-256" not in headers
