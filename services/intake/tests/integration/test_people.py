"""Consent as data (per purpose, versioned, published) and vetting with who, when and why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from services.intake.domain import CONSENT_WORDING_CURRENT
from services.intake.models import AUDIT_TABLES, ConsentChange
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_tickets import TICKET, submit
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import ConsentChanged, decode

WHY = "canary-vet-7f1 vouched for by Nour at the Beirut training"


@pytest.fixture
async def headers(auth: Auth) -> dict[str, str]:
    return await auth(Scope.handler)


async def requester_of(client: httpx.AsyncClient, headers: dict[str, str], ticket_id: str) -> str:
    read = await client.get(f"/v1/tickets/{ticket_id}", headers=headers)
    requester_id: str = read.json()["requester"]["id"]
    return requester_id


async def consent_events(runtime: Runtime) -> list[ConsentChanged]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    found = [decode(r.payload, subject=r.subject) for r in rows]
    return [e for e in found if isinstance(e, ConsentChanged)]


# --- consent ------------------------------------------------------------------


async def test_consent_given_at_submission_is_recorded_and_published(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    consent = {"wording_version": CONSENT_WORDING_CURRENT, "granted": ["anonymous_statistics"]}
    accepted = await submit(client, {**TICKET, "consent": consent})
    requester_id = await requester_of(client, headers, accepted["id"])

    (event,) = await consent_events(runtime)
    assert event.data.consents == {
        "share_with_platforms": False,
        "share_with_partners": False,
        "anonymous_statistics": True,
    }
    assert (event.data.source, event.data.wording_version) == ("whatsapp", CONSENT_WORDING_CURRENT)
    record = (await client.get(f"/v1/requesters/{requester_id}/consent", headers=headers)).json()
    assert record["consents"]["anonymous_statistics"] is True
    assert record["history"][0]["actor_id"] == "requester"


async def test_without_a_consent_object_nothing_is_granted_and_nothing_published(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    accepted = await submit(client)
    requester_id = await requester_of(client, headers, accepted["id"])

    record = (await client.get(f"/v1/requesters/{requester_id}/consent", headers=headers)).json()
    assert set(record["consents"].values()) == {False}
    assert record["history"] == []
    assert await consent_events(runtime) == []


async def test_a_handler_changes_consent_on_the_persons_word_and_the_whole_record_is_published(
    client: httpx.AsyncClient, runtime: Runtime, headers: dict[str, str]
) -> None:
    consent = {"wording_version": CONSENT_WORDING_CURRENT, "granted": ["share_with_partners"]}
    accepted = await submit(client, {**TICKET, "consent": consent})
    requester_id = await requester_of(client, headers, accepted["id"])

    response = await client.put(
        f"/v1/requesters/{requester_id}/consent",
        json={
            "consents": {"share_with_platforms": True},
            "wording_version": CONSENT_WORDING_CURRENT,
        },
        headers=headers,
    )

    assert response.status_code == 200, response.text
    assert response.json()["consents"] == {
        "share_with_platforms": True,
        "share_with_partners": True,
        "anonymous_statistics": False,
    }
    assert len(response.json()["history"]) == 2
    last = (await consent_events(runtime))[-1]
    assert last.data.source == "handler"
    assert dict(last.data.consents) == response.json()["consents"]
    async with runtime.sessions() as session:
        assert len((await session.execute(select(ConsentChange))).all()) == 2


@pytest.mark.parametrize(
    "body",
    [
        {"consents": {}, "wording_version": CONSENT_WORDING_CURRENT},
        {"consents": {"sell_to_advertisers": True}, "wording_version": CONSENT_WORDING_CURRENT},
        {"consents": {"share_with_platforms": True}, "wording_version": "made-up"},
    ],
    ids=["nothing", "unknown-purpose", "unknown-wording"],
)
async def test_an_invalid_consent_change_is_a_422(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> None:
    accepted = await submit(client)
    requester_id = await requester_of(client, headers, accepted["id"])

    response = await client.put(
        f"/v1/requesters/{requester_id}/consent", json=body, headers=headers
    )

    assert response.status_code == 422


async def test_an_unknown_consent_wording_at_submission_is_a_422(
    client: httpx.AsyncClient,
) -> None:
    body = {**TICKET, "consent": {"wording_version": "v0", "granted": []}}

    assert (await client.post("/v1/tickets", json=body)).status_code == 422


# --- vetting ------------------------------------------------------------------


async def test_vetting_is_set_with_who_when_and_an_encrypted_why(
    client: httpx.AsyncClient,
    runtime: Runtime,
    headers: dict[str, str],
    auth: Auth,
    db_path: Path,
) -> None:
    accepted = await submit(client)
    requester_id = await requester_of(client, headers, accepted["id"])
    url = f"/v1/requesters/{requester_id}/vetting"

    first = await client.put(url, json={"state": "vetting"}, headers=headers)
    second = await client.put(
        url, json={"state": "vetted", "note": WHY}, headers=await auth(Scope.coordinator)
    )

    assert (first.status_code, second.status_code) == (200, 200)
    record = (await client.get(url, headers=headers)).json()
    assert record["state"] == "vetted"
    assert [(h["state"], h["actor_scope"], h["note"]) for h in record["history"]] == [
        ("vetted", "coordinator", WHY),
        ("vetting", "handler", None),
    ]
    read = (await client.get(f"/v1/tickets/{accepted['id']}", headers=headers)).json()
    assert read["requester"]["vetting_state"] == "vetted"
    stored = b"".join(
        p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith("intake")
    )
    assert WHY.encode() not in stored
    async with runtime.sessions() as session:
        actions = [r.action for r in (await session.execute(select(AUDIT_TABLES[0]))).all()]
    assert actions.count("update") == 2


@pytest.mark.parametrize(
    "body", [{"state": "trusted"}, {"state": "vetted", "note": ""}, {"state": "vetted", "x": 1}]
)
async def test_an_invalid_vetting_change_is_a_422(
    client: httpx.AsyncClient, headers: dict[str, str], body: dict[str, Any]
) -> None:
    accepted = await submit(client)
    requester_id = await requester_of(client, headers, accepted["id"])

    response = await client.put(
        f"/v1/requesters/{requester_id}/vetting", json=body, headers=headers
    )

    assert response.status_code == 422


async def test_an_erased_requester_has_no_vetting_or_consent_to_show(
    client: httpx.AsyncClient, headers: dict[str, str], auth: Auth
) -> None:
    accepted = await submit(client)
    requester_id = await requester_of(client, headers, accepted["id"])
    await client.put(
        f"/v1/requesters/{requester_id}/vetting",
        json={"state": "declined", "note": WHY},
        headers=headers,
    )
    erased = await client.delete(
        f"/v1/requesters/{requester_id}", headers=await auth(Scope.coordinator)
    )
    assert erased.status_code == 200

    for what in ("vetting", "consent"):
        response = await client.get(f"/v1/requesters/{requester_id}/{what}", headers=headers)
        assert response.status_code == 404
        assert WHY not in response.text


@pytest.mark.parametrize("scope", [Scope.analyst, Scope.ops, Scope.partner])
async def test_consent_and_vetting_are_for_handlers(
    client: httpx.AsyncClient, auth: Auth, scope: Scope
) -> None:
    url = "/v1/requesters/00000000-0000-4000-8000-000000000000"
    for what in ("vetting", "consent"):
        assert (await client.get(f"{url}/{what}", headers=await auth(scope))).status_code == 403


async def test_safe_times_are_stored_encrypted_and_ways_to_avoid_are_kept(
    client: httpx.AsyncClient, headers: dict[str, str], db_path: Path
) -> None:
    times = "canary-times-44 only after 22:00, my brother checks my phone"
    contact = {"channel": "signal", "handle": "+20 100 555 0101", "safe_times": times}
    body = {**TICKET, "contact": {**contact, "avoid": ["email", "whatsapp"]}}
    accepted = await submit(client, body)

    read = (await client.get(f"/v1/tickets/{accepted['id']}", headers=headers)).json()
    assert read["requester"]["contact"]["safe_times"] == times
    assert read["requester"]["contact"]["avoid"] == ["email", "whatsapp"]
    stored = b"".join(
        p.read_bytes() for p in db_path.parent.iterdir() if p.name.startswith("intake")
    )
    assert times.encode() not in stored
