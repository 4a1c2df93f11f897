"""No double tickets: the same text from the same sender within ten minutes opens one.

The clock is the service's own (runtime.extras["recent_submissions"].now), moved by the
tests: nothing waits ten minutes, and no assertion depends on how fast anything runs.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import func, select
from sqlmodel import col

from services.intake.config import IntakeSettings
from services.intake.models import Message, RecentSubmission, Ticket
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_email import HELPLINE, mail, send
from services.intake.tests.integration.test_pages import FORM, post_form
from services.intake.tests.integration.test_webhooks import APP_SECRET, deliver, wa_payload, wa_text
from shared.app import Runtime
from shared.auth import Scope
from shared.testing.nats_server import free_port

TEXT = "Someone is logging into my Gmail from another country, I got three alerts."
BODY: dict[str, Any] = {"text": TEXT, "contact": {"channel": "signal", "handle": "+961 3 555 777"}}


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **delta: float) -> None:
        self.at += timedelta(**delta)


@pytest.fixture
def settings(settings: IntakeSettings) -> IntakeSettings:
    return settings.model_copy(
        update={
            "duplicate_window_seconds": 600.0,
            "whatsapp_app_secret": SecretStr(APP_SECRET),
            "smtp_port": free_port(),
            "email_addresses": HELPLINE,
        }
    )


@pytest.fixture
def clock(runtime: Runtime) -> Clock:
    clock = Clock()
    runtime.extras["recent_submissions"].now = clock
    return clock


async def count(runtime: Runtime, model: Any) -> int:
    async with runtime.sessions() as session:
        found: int = (await session.execute(select(func.count()).select_from(model))).scalar_one()
    return found


async def test_a_double_submit_answers_with_the_first_ticket_and_no_token(
    client: httpx.AsyncClient, runtime: Runtime, clock: Clock
) -> None:
    first = await client.post("/v1/tickets", json=BODY)
    clock.advance(minutes=9, seconds=59)
    # Spaces and case differ: it is still the same message.
    again = await client.post(
        "/v1/tickets", json={**BODY, "text": "  " + TEXT.upper().replace(" ", "  ")}
    )

    assert first.status_code == 202
    assert again.status_code == 200
    assert again.json()["reference"] == first.json()["reference"]
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["duplicate"] is True
    assert again.json()["follow_up_token"] is None
    assert await count(runtime, Ticket) == 1


async def test_after_ten_minutes_or_from_another_contact_it_is_a_new_ticket(
    client: httpx.AsyncClient, runtime: Runtime, clock: Clock
) -> None:
    first = await client.post("/v1/tickets", json=BODY)
    other_contact = await client.post(
        "/v1/tickets", json={**BODY, "contact": {"channel": "signal", "handle": "+961 3 555 778"}}
    )
    other_text = await client.post("/v1/tickets", json={**BODY, "text": TEXT + " Again today."})
    clock.advance(minutes=10)
    later = await client.post("/v1/tickets", json=BODY)

    assert [r.status_code for r in (first, other_contact, other_text, later)] == [202] * 4
    assert len({r.json()["reference"] for r in (first, other_contact, other_text, later)}) == 4
    assert await count(runtime, Ticket) == 4


async def test_without_a_contact_the_form_keys_on_the_client_and_the_api_on_nothing(
    client: httpx.AsyncClient, runtime: Runtime, clock: Clock
) -> None:
    anonymous = {k: v for k, v in FORM.items() if not k.startswith("contact_")}
    forms = [await post_form(client, "en", anonymous) for _ in range(2)]
    api = [await client.post("/v1/tickets", json={"text": TEXT}) for _ in range(2)]

    assert [r.status_code for r in forms] == [201, 200]
    assert "We already have your message" in forms[1].text
    # A gateway forwards many people's words from one address: without a contact, each is new.
    assert [r.status_code for r in api] == [202, 202]
    assert await count(runtime, Ticket) == 3


async def test_twins_arriving_together_open_one_ticket(
    client: httpx.AsyncClient, runtime: Runtime, clock: Clock
) -> None:
    answers = await asyncio.gather(*(client.post("/v1/tickets", json=BODY) for _ in range(4)))

    assert sorted(r.status_code for r in answers) == [200, 200, 200, 202]
    assert len({r.json()["reference"] for r in answers}) == 1
    assert await count(runtime, Ticket) == 1


async def test_the_form_posted_twice_shows_the_reference_but_never_the_token_again(
    client: httpx.AsyncClient, runtime: Runtime, clock: Clock
) -> None:
    first = await post_form(client, "fr", FORM)
    clock.advance(seconds=3)
    again = await post_form(client, "fr", FORM)

    assert (first.status_code, again.status_code) == (201, 200)
    assert "Votre message nous était déjà parvenu" in again.text
    async with runtime.sessions() as session:
        ticket = (await session.execute(select(Ticket))).scalars().one()
    assert ticket.reference in again.text
    assert "follow-up?" not in again.text
    assert "token" not in again.text.lower()


async def test_a_whatsapp_retry_under_a_new_id_adds_nothing_even_after_the_case_closed(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, clock: Clock
) -> None:
    await deliver(client, wa_payload(wa_text(TEXT, mid="wamid.A")))
    async with runtime.sessions() as session:
        ticket_id = (await session.execute(select(col(Ticket.id)))).scalar_one()
    closed = await client.post(
        f"/v1/tickets/{ticket_id}/close",
        json={"outcome": "no_response"},
        headers=await auth(Scope.handler),
    )
    assert closed.status_code == 200, closed.text
    clock.advance(minutes=2)

    retried = await deliver(client, wa_payload(wa_text(TEXT, mid="wamid.B")))
    clock.advance(minutes=9)
    later = await deliver(client, wa_payload(wa_text(TEXT, mid="wamid.C")))

    assert retried.json() == {"received": 1, "stored": 0}
    # Past the window the same words are a new message: a closed case means a new ticket.
    assert later.json() == {"received": 1, "stored": 1}
    assert await count(runtime, Ticket) == 2
    assert await count(runtime, Message) == 2


async def test_the_same_mail_under_another_message_id_opens_no_second_ticket(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings, clock: Clock
) -> None:
    for _ in range(2):
        # make_msgid: each has its own Message-ID, as a client re-sending would give it.
        await send(settings, mail(TEXT))

    assert await count(runtime, Ticket) == 1
    assert await count(runtime, Message) == 1


async def test_fingerprints_are_forgotten_after_the_window(
    client: httpx.AsyncClient, runtime: Runtime, clock: Clock
) -> None:
    await client.post("/v1/tickets", json=BODY)
    assert await count(runtime, RecentSubmission) == 1
    clock.advance(minutes=11)
    # The purge runs at most once a minute of the process's own clock: force this one.
    runtime.extras["recent_submissions"]._purged_at = None
    await client.post("/v1/tickets", json={**BODY, "text": "Another thing happened."})

    async with runtime.sessions() as session:
        rows = (await session.execute(select(RecentSubmission))).scalars().all()
    assert len(rows) == 1
    assert rows[0].received_at == clock.at
