"""Escalations through the app: registry, opening, moves, consent, approval, reminders, erasure."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import select

from services.escalation import jobs, records
from services.escalation.models import NOTICES
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    ConsentChanged,
    ConsentChangedData,
    ConsentPurpose,
    Envelope,
    Flag,
    Priority,
    decode,
)
from shared.db import transaction
from shared.testing.events import requester_erased, ticket_received, ticket_triaged
from shared.testing.fixtures import Auth

URL = "https://facebook.example/posts/canary-8d1f"
HANDLE = "@canary_handle_51"


async def seed(
    runtime: Runtime,
    *,
    priority: Priority = Priority.P3,
    flags: tuple[Flag, ...] = (),
    consent: bool | None = True,
) -> tuple[uuid.UUID, uuid.UUID]:
    """A received and triaged ticket, and its requester's consent if given: (ticket, requester)."""
    received = ticket_received()
    assert received.ticket_id is not None
    async with transaction(runtime.writer_sessions) as session:
        await records.record_ticket_owner(session=session, event=received)
        await records.record_triage(
            session=session,
            event=ticket_triaged(ticket_id=received.ticket_id, priority=priority, flags=flags),
        )
    if consent is not None:
        await give_consent(runtime, received.data.requester_id, platforms=consent)
    return received.ticket_id, received.data.requester_id


async def give_consent(
    runtime: Runtime,
    requester_id: uuid.UUID,
    *,
    platforms: bool,
    partners: bool = False,
    at: datetime | None = None,
) -> None:
    event = ConsentChanged(
        data=ConsentChangedData(
            requester_id=requester_id,
            consents={
                ConsentPurpose.share_with_platforms: platforms,
                ConsentPurpose.share_with_partners: partners,
                ConsentPurpose.anonymous_statistics: True,
            },
            wording_version="v1",
            source="web",
            changed_at=at or datetime.now(UTC),
        )
    )
    async with transaction(runtime.writer_sessions) as session:
        await records.record_consent(session=session, event=event)


async def open_one(
    client: httpx.AsyncClient, auth: Auth, ticket_id: uuid.UUID, **body: Any
) -> httpx.Response:
    payload = {
        "ticket_id": str(ticket_id),
        "platform": "meta",
        "action": "take_down",
        "content": {"content_urls": [URL], "account_handle": HANDLE},
        **body,
    }
    return await client.post("/v1/escalations", json=payload, headers=await auth(Scope.handler))


async def move(
    client: httpx.AsyncClient, auth: Auth, escalation_id: str, to: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/escalations/{escalation_id}/transitions",
        json={"to": to, **body},
        headers=await auth(Scope.handler),
    )


async def published(runtime: Runtime) -> list[Envelope]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox.c.payload))).scalars().all()
    return [decode(raw) for raw in rows]


async def raw_outbox(runtime: Runtime) -> bytes:
    async with runtime.sessions() as session:
        return b"".join((await session.execute(select(runtime.outbox.c.payload))).scalars())


async def test_the_platforms_are_listed_for_handlers(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get("/v1/platforms", headers=await auth(Scope.handler))

    assert response.status_code == 200
    meta = next(p for p in response.json() if p["id"] == "meta")
    assert meta["channel"] == "trusted_partner_form"
    assert meta["expected_response_hours"] == 72


async def test_an_escalation_is_drafted_with_its_content_sealed(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime, tmp_path: Path
) -> None:
    ticket_id, _ = await seed(runtime)

    response = await open_one(client, auth, ticket_id)

    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["violation_type"]) == ("drafted", "hacked_account")
    assert body["content"]["content_urls"] == [URL]
    assert body["transitions"][0]["kind"] == "opened"
    (event,) = await published(runtime)
    assert event.type == "sanad.escalation.escalation.opened"
    assert URL.encode() not in await raw_outbox(runtime)
    on_disk = b"".join(p.read_bytes() for p in (tmp_path / "db").glob("escalation.db*"))
    assert URL.encode() not in on_disk
    assert HANDLE.encode() not in on_disk


async def test_bad_openings_are_explained(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, _ = await seed(runtime)

    unknown = await open_one(client, auth, ticket_id, platform="myspace")
    unsupported = await open_one(client, auth, ticket_id, platform="apple", action="take_down")
    missing = await open_one(client, auth, ticket_id, content={})
    untriaged = await open_one(client, auth, uuid.uuid4())

    assert (unknown.status_code, unknown.json()["type"].rsplit("/", 1)[1]) == (
        422,
        "unknown-platform",
    )
    assert unsupported.status_code == 422
    assert missing.status_code == 422
    assert missing.json()["missing"] == ["content_urls", "account_handle"]
    assert untriaged.status_code == 409


async def test_an_escalation_is_tracked_to_its_outcome(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, _ = await seed(runtime)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]

    await move(client, auth, escalation_id, "submitted")
    await move(client, auth, escalation_id, "acknowledged", platform_reference="FB-12345")
    done = await move(client, auth, escalation_id, "refused_risk_unclear")

    assert done.status_code == 200
    body = done.json()
    assert body["platform_reference"] == "FB-12345"
    assert [t["to_state"] for t in body["transitions"]] == [
        "drafted",
        "submitted",
        "acknowledged",
        "refused_risk_unclear",
    ]
    assert all(t["actor_id"] and t["at"] for t in body["transitions"])
    types = [e.type.rsplit(".", 1)[1] for e in await published(runtime)]
    assert types == ["opened", "updated", "updated", "updated", "resolved"]
    resolved = (await published(runtime))[-1]
    assert resolved.data.outcome == "refused_risk_unclear"  # type: ignore[attr-defined]
    listed = await client.get(
        "/v1/escalations", params={"ticket_id": str(ticket_id)}, headers=await auth(Scope.handler)
    )
    assert [e["state"] for e in listed.json()] == ["refused_risk_unclear"]
    assert "content" not in listed.json()[0]


async def test_an_impossible_move_is_a_conflict_and_a_closed_one_reopens(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, _ = await seed(runtime)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]

    assert (await move(client, auth, escalation_id, "actioned")).status_code == 409
    await move(client, auth, escalation_id, "submitted")
    await move(client, auth, escalation_id, "refused")
    reopened = await move(client, auth, escalation_id, "drafted")

    assert reopened.status_code == 200
    assert (reopened.json()["state"], reopened.json()["submitted_at"]) == ("drafted", None)


async def test_nothing_is_submitted_without_consent(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, requester_id = await seed(runtime, consent=None)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]

    without = await move(client, auth, escalation_id, "submitted")
    await give_consent(runtime, requester_id, platforms=True)
    await give_consent(runtime, requester_id, platforms=False)
    revoked = await move(client, auth, escalation_id, "submitted")
    # An older record arriving late does not undo the revocation.
    await give_consent(runtime, requester_id, platforms=True, at=datetime(2020, 1, 1, tzinfo=UTC))
    still = await move(client, auth, escalation_id, "submitted")

    for response in (without, revoked, still):
        assert response.status_code == 409
        assert response.json()["type"].endswith("/consent-missing")


async def test_sensitive_cases_wait_for_a_coordinator(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, _ = await seed(runtime, flags=(Flag.lgbtq_targeting,))
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]
    approve_url = f"/v1/escalations/{escalation_id}/approve"

    before = await move(client, auth, escalation_id, "submitted")
    by_handler = await client.post(approve_url, headers=await auth(Scope.handler))
    approved = await client.post(approve_url, headers=await auth(Scope.coordinator))
    after = await move(client, auth, escalation_id, "submitted")
    late = await client.post(approve_url, headers=await auth(Scope.coordinator))

    assert before.json()["type"].endswith("/approval-missing")
    assert by_handler.status_code == 403
    assert approved.status_code == 200
    assert approved.json()["approved_by"]
    assert after.status_code == 200
    assert late.status_code == 409


async def test_a_p1_case_needs_approval_too(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, _ = await seed(runtime, priority=Priority.P1)

    opened = (await open_one(client, auth, ticket_id)).json()

    assert opened["requires_approval"] is True
    assert (await move(client, auth, opened["id"], "submitted")).status_code == 409


async def test_a_silent_platform_is_reminded_once_per_period(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, _ = await seed(runtime)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]
    due = datetime.fromisoformat(
        (await move(client, auth, escalation_id, "submitted")).json()["response_due_at"]
    )

    assert await jobs.check_once(runtime, now=due - timedelta(minutes=1)) == 0
    assert await jobs.check_once(runtime, now=due + timedelta(minutes=1)) == 1
    assert await jobs.check_once(runtime, now=due + timedelta(minutes=2)) == 0

    reminder = (await published(runtime))[-1]
    assert reminder.data.reminder is True  # type: ignore[attr-defined]
    assert reminder.data.response_due_at == due  # type: ignore[attr-defined]
    async with runtime.sessions() as session:
        # No notification hook configured here: the event alone, nothing queued for one.
        assert (await session.execute(select(NOTICES))).all() == []


async def test_erasure_drops_the_content_references(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, requester_id = await seed(runtime)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]

    async with transaction(runtime.writer_sessions) as session:
        await records.forget_requester(
            session=session,
            event=requester_erased(requester_id=requester_id, ticket_ids=(ticket_id,)),
        )
    read = await client.get(f"/v1/escalations/{escalation_id}", headers=await auth(Scope.handler))

    assert (read.json()["content"], read.json()["content_erased"]) == (None, True)
    assert (await move(client, auth, escalation_id, "submitted")).status_code == 409
