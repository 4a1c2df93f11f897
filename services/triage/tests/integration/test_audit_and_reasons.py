"""Reads and changes of a ticket's triage are audited; handlers' reasons are encrypted at rest."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, insert, select

from services.triage.config import TriageSettings
from services.triage.main import create_app
from services.triage.models import AUDIT_TABLES, TicketKey, TriageChange
from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.test_sla_clocks import deliver
from shared.app import Runtime
from shared.auth import Scope
from shared.cli import main
from shared.testing.asgi import bearer, runtime_of, serve
from shared.testing.events import requester_erased
from shared.testing.fixtures import Auth

LOG = AUDIT_TABLES[0]
REASON = "canary-Yara-Khoury said her uncle sent the threats"
OVERRIDE: dict[str, Any] = {
    "category": "threats",
    "flags": ["physical_threat"],
    "priority": "P1",
    "reason": REASON,
}


def db_path(settings: TriageSettings) -> Path:
    return Path(settings.database_url.removeprefix("sqlite+aiosqlite:///"))


async def audit_rows(runtime: Runtime) -> list[Any]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(LOG).order_by(LOG.c.seq))).all())


async def sanad(path: Path) -> int:
    url = f"sqlite+aiosqlite:///{path}"
    return await asyncio.to_thread(main, ["audit", "verify", "--database-url", url])


async def override(
    client: httpx.AsyncClient, auth: Auth, ticket_id: uuid.UUID, body: dict[str, Any] = OVERRIDE
) -> httpx.Response:
    return await client.put(f"/v1/triage/{ticket_id}", json=body, headers=await auth(Scope.handler))


# --- audit ---------------------------------------------------------------------------


async def test_reading_overriding_and_assigning_are_recorded_with_ids_only(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged()
    coordinator = await auth(Scope.coordinator)
    await client.post(
        "/v1/roster",
        json={"handler_id": "amal", "label": "Amal", "languages": ["en"]},
        headers=coordinator,
    )

    await client.get(f"/v1/triage/{ticket_id}", headers=coordinator)
    await override(client, auth, ticket_id)
    await client.put(
        f"/v1/triage/{ticket_id}/assignment",
        json={"handler_id": "amal", "reason": REASON},
        headers=coordinator,
    )

    rows = await audit_rows(runtime)
    assert [(r.action, r.object_type, r.object_id) for r in rows] == [
        ("read", "ticket", str(ticket_id)),
        ("update", "ticket", str(ticket_id)),
        ("update", "ticket", str(ticket_id)),
    ]
    assert [r.actor_scope for r in rows] == ["coordinator", "handler", "coordinator"]
    assert not any("Yara" in repr(r) for r in rows)


async def test_a_refused_or_missing_read_leaves_no_entry(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged()

    await client.get(f"/v1/triage/{ticket_id}", headers=await auth(Scope.analyst))
    await client.get(f"/v1/triage/{uuid.uuid4()}", headers=await auth(Scope.handler))
    await override(client, auth, uuid.uuid4())

    assert await audit_rows(runtime) == []


async def test_sanad_audit_verify_checks_triages_log(
    client: httpx.AsyncClient,
    auth: Auth,
    triaged: Triaged,
    runtime: Runtime,
    settings: TriageSettings,
    capsys: pytest.CaptureFixture[str],
) -> None:
    headers = await auth(Scope.handler)
    for _ in range(3):
        await client.get(f"/v1/triage/{await triaged()}", headers=headers)

    assert await sanad(db_path(settings)) == 0
    assert "audit log intact: 3 entries" in capsys.readouterr().out

    async with runtime.writer_sessions() as session, session.begin():
        await session.execute(delete(LOG).where(LOG.c.seq == 2))
    assert await sanad(db_path(settings)) == 1
    assert "audit log broken" in capsys.readouterr().err


# --- reasons -------------------------------------------------------------------------


async def test_an_override_reason_is_stored_encrypted_and_shown_decrypted(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged()

    response = await override(client, auth, ticket_id)

    assert response.json()["changes"][0]["reason"] == REASON
    async with runtime.sessions() as session:
        (change,) = (await session.scalars(select(TriageChange))).all()
    assert change.reason is None
    assert change.reason_sealed is not None
    assert b"Yara" not in change.reason_sealed


async def test_erasure_destroys_the_tickets_key_and_its_reasons(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged()
    await override(client, auth, ticket_id)

    await deliver(runtime, requester_erased(ticket_ids=(ticket_id,)))

    shown = await client.get(f"/v1/triage/{ticket_id}", headers=await auth(Scope.handler))
    assert shown.json()["changes"][0]["reason"] is None
    async with runtime.sessions() as session:
        key = await session.get(TicketKey, ticket_id)
    assert key is not None
    assert key.wrapped_key is None
    # An override after the erasure keeps no reason, and makes no new key.
    later = await override(client, auth, ticket_id, {**OVERRIDE, "priority": "P2", "flags": []})
    assert [c["reason"] for c in later.json()["changes"]] == [None, None]


async def test_reasons_stored_in_clear_before_are_encrypted_at_start(
    settings: TriageSettings, triaged: Triaged, runtime: Runtime, client: httpx.AsyncClient
) -> None:
    ticket_id = await triaged()
    async with runtime.writer_sessions() as session, session.begin():
        await session.execute(
            insert(TriageChange).values(
                ticket_id=ticket_id,
                source="override",
                actor_id="tok-old",
                from_category="account_compromise",
                from_flags=[],
                from_priority="P2",
                category="threats",
                flags=[],
                priority="P1",
                reason=REASON,
                changed_at=datetime.now(UTC),
            )
        )

    again = create_app(settings)
    async with serve(again) as other:
        headers = await bearer(again, Scope.handler)
        shown = await other.get(f"/v1/triage/{ticket_id}", headers=headers)
        async with runtime_of(again).sessions() as session:
            (change,) = (await session.scalars(select(TriageChange))).all()

    assert shown.json()["changes"][0]["reason"] == REASON
    assert change.reason is None
    assert change.reason_sealed is not None


async def test_the_export_carries_no_reason(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await override(client, auth, await triaged())

    response = await client.get(
        "/v1/triage/overrides/export?format=csv", headers=await auth(Scope.coordinator)
    )

    assert response.status_code == 200
    assert "Yara" not in response.text
    assert "reason" not in response.text.splitlines()[0]
