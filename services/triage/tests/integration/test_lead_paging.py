"""Shift hours on the roster, and paging the on-shift lead when a ticket becomes P1."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import select

from services.triage.lexicon import Lexicon
from services.triage.models import LeadPage
from services.triage.service import triage_ticket
from services.triage.tests.builders import message_added
from services.triage.tests.integration.events import staged
from services.triage.tests.integration.test_assignment import deliver
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import LeadPaged, Priority
from shared.crypto import RecipientKeyPair
from shared.db import transaction
from shared.testing.events import ticket_received
from shared.testing.fixtures import Auth

PAGED = "sanad.triage.lead.paged"
URGENT = "They posted my home address and said they will come to kill me"
HACKED = "Someone hacked my email account and changed the password"
EVERY_DAY = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
# 10:00 in Beirut, 09:00 in Paris; and 02:00 in Beirut, 01:00 in Paris.
BEIRUT_DAY = datetime(2026, 7, 1, 7, 0, tzinfo=UTC)
PARIS_NIGHT = datetime(2026, 7, 1, 23, 0, tzinfo=UTC)


async def add(client: httpx.AsyncClient, auth: Auth, handler_id: str, **fields: Any) -> Any:
    body = {"handler_id": handler_id, "label": handler_id.title(), "languages": ["en"], **fields}
    response = await client.post("/v1/roster", json=body, headers=await auth(Scope.coordinator))
    assert response.status_code == 201, response.text
    return response.json()


async def triage_at(
    runtime: Runtime, lexicon: Lexicon, keys: RecipientKeyPair, text: str, now: datetime
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
            now=now,
        )
    assert event.ticket_id is not None
    return event.ticket_id


async def holder(client: httpx.AsyncClient, auth: Auth, ticket_id: uuid.UUID) -> Any:
    response = await client.get(f"/v1/triage/{ticket_id}", headers=await auth(Scope.coordinator))
    return response.json()["assignment"]["handler_id"]


async def two_leads(client: httpx.AsyncClient, auth: Auth) -> None:
    await add(
        client,
        auth,
        "nour",
        lead=True,
        time_zone="Asia/Beirut",
        shifts=[{"days": EVERY_DAY, "start": "09:00", "end": "17:00"}],
    )
    await add(
        client,
        auth,
        "zaid",
        lead=True,
        time_zone="Europe/Paris",
        shifts=[{"days": EVERY_DAY, "start": "22:00", "end": "06:00"}],
    )


async def test_shift_hours_round_trip_and_bad_ones_are_problems(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    shown = await add(
        client,
        auth,
        "nour",
        lead=True,
        time_zone="Africa/Tunis",
        shifts=[{"days": ["fri"], "start": "22:00", "end": "06:00"}],
    )
    assert (shown["lead"], shown["time_zone"]) == (True, "Africa/Tunis")
    assert shown["shifts"] == [{"days": ["fri"], "start": "22:00", "end": "06:00"}]
    plain = await add(client, auth, "amal")
    assert (plain["shifts"], plain["time_zone"], plain["lead"], plain["on_shift"]) == (
        [],
        "UTC",
        False,
        True,
    )
    headers = await auth(Scope.coordinator)
    for bad in (
        {"time_zone": "Mars/Olympus"},
        {"time_zone": "../../etc/passwd"},
        {"time_zone": None},
        {"shifts": [{"days": ["fri"], "start": "25:00", "end": "06:00"}]},
        {"shifts": [{"days": ["someday"], "start": "08:00", "end": "16:00"}]},
        {"shifts": [{"days": [], "start": "08:00", "end": "16:00"}]},
    ):
        response = await client.patch("/v1/roster/amal", json=bad, headers=headers)
        assert response.status_code == 422, (bad, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    changed = await client.patch(
        "/v1/roster/amal", json={"time_zone": "Europe/Paris", "lead": True}, headers=headers
    )
    assert (changed.json()["time_zone"], changed.json()["lead"]) == ("Europe/Paris", True)


async def test_a_new_p1_pages_the_lead_on_shift_in_their_own_time_zone(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    await two_leads(client, auth)

    by_day = await triage_at(runtime, lexicon, content_keys, URGENT, BEIRUT_DAY)
    by_night = await triage_at(runtime, lexicon, content_keys, URGENT, PARIS_NIGHT)

    # Assignment looks at the same hours: each ticket goes to whoever is on shift.
    assert await holder(client, auth, by_day) == "nour"
    assert await holder(client, auth, by_night) == "zaid"
    first, second = await staged(runtime, PAGED)
    assert isinstance(first, LeadPaged)
    assert (first.ticket_id, first.data.lead_id, first.data.reason) == (by_day, "nour", "p1")
    assert (first.data.priority, first.data.paged_at) == (Priority.P1, BEIRUT_DAY)
    assert (second.ticket_id, second.data.lead_id) == (by_night, "zaid")


async def test_the_least_loaded_lead_is_paged_and_an_unavailable_one_never(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    await add(client, auth, "badr", lead=True)
    await add(client, auth, "nour", lead=True)
    await add(client, auth, "yara", lead=True, available=False)

    await triage_at(runtime, lexicon, content_keys, URGENT, BEIRUT_DAY)  # badr holds it
    await triage_at(runtime, lexicon, content_keys, URGENT, BEIRUT_DAY)

    leads = [e.data.lead_id for e in await staged(runtime, PAGED)]
    # The first page counts badr's new ticket: nour, with none, is paged; then badr's turn.
    assert leads == ["nour", "badr"]


async def test_with_no_lead_on_shift_the_page_still_goes_out_to_nobody(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    await add(
        client,
        auth,
        "nour",
        lead=True,
        time_zone="Asia/Beirut",
        shifts=[{"days": EVERY_DAY, "start": "09:00", "end": "17:00"}],
    )
    await add(client, auth, "amal")  # on shift, not a lead

    ticket_id = await triage_at(runtime, lexicon, content_keys, URGENT, PARIS_NIGHT)

    (event,) = await staged(runtime, PAGED)
    assert (event.ticket_id, event.data.lead_id) == (ticket_id, None)
    async with runtime.sessions() as session:
        (page,) = (await session.scalars(select(LeadPage))).all()
    assert (page.ticket_id, page.lead_id) == (ticket_id, None)


async def test_a_ticket_below_p1_pages_nobody(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    await add(client, auth, "nour", lead=True)

    await triage_at(runtime, lexicon, content_keys, HACKED, BEIRUT_DAY)

    assert await staged(runtime, PAGED) == []


async def test_an_override_raising_to_p1_pages_once_per_ticket(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    await add(client, auth, "nour", lead=True)
    ticket_id = await triage_at(runtime, lexicon, content_keys, HACKED, BEIRUT_DAY)
    headers = await auth(Scope.handler)

    for priority in ("P1", "P2", "P1"):
        body = {"category": "account_compromise", "priority": priority, "reason": "checked"}
        response = await client.put(f"/v1/triage/{ticket_id}", json=body, headers=headers)
        assert response.status_code == 200, response.text

    (event,) = await staged(runtime, PAGED)
    assert (event.ticket_id, event.data.lead_id, event.data.priority) == (
        ticket_id,
        "nour",
        Priority.P1,
    )


async def test_a_later_message_raising_to_p1_pages_the_lead(
    client: httpx.AsyncClient,
    auth: Auth,
    runtime: Runtime,
    lexicon: Lexicon,
    content_keys: RecipientKeyPair,
) -> None:
    await add(client, auth, "nour", lead=True)
    ticket_id = await triage_at(runtime, lexicon, content_keys, HACKED, BEIRUT_DAY)
    assert await staged(runtime, PAGED) == []

    later = message_added(ticket_id, text=URGENT, sealed_for=content_keys.public_key)
    await deliver(runtime, later)

    (event,) = await staged(runtime, PAGED)
    assert (event.ticket_id, event.data.lead_id, event.data.priority) == (
        ticket_id,
        "nour",
        Priority.P1,
    )
