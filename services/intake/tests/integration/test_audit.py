"""Every read of a case by a person is in intake's audit log, and `sanad audit verify` checks it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import delete, select, update

from services.intake.models import AUDIT_TABLES
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_tickets import NAME, TEXT, submit
from shared.app import Runtime
from shared.auth import Scope
from shared.cli import main

LOG = AUDIT_TABLES[0]


async def audit_rows(runtime: Runtime) -> list[Any]:
    async with runtime.sessions() as session:
        return list((await session.execute(select(LOG).order_by(LOG.c.seq))).all())


async def read(client: httpx.AsyncClient, ticket_id: str, headers: dict[str, str]) -> None:
    response = await client.get(f"/v1/tickets/{ticket_id}", headers=headers)
    assert response.status_code == 200, response.text


async def sanad(db_path: Path, *args: str) -> int:
    url = f"sqlite+aiosqlite:///{db_path}"
    return await asyncio.to_thread(main, ["audit", "verify", "--database-url", url, *args])


async def test_a_handler_reading_a_ticket_is_recorded_with_ids_only(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    accepted = await submit(client)
    await read(client, accepted["id"], await auth(Scope.handler))

    rows = await audit_rows(runtime)
    (token,) = await runtime.token_store.list()
    assert [(r.action, r.object_type) for r in rows] == [("read", "ticket"), ("read", "requester")]
    assert {r.token_id for r in rows} == {token.id}
    assert rows[0].object_id == accepted["id"]
    assert not any(NAME in repr(r) or TEXT in repr(r) for r in rows)


async def test_a_refused_or_failed_read_leaves_no_entry(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    accepted = await submit(client)
    await client.get(f"/v1/tickets/{accepted['id']}", headers=await auth(Scope.analyst))
    missing = "00000000-0000-4000-8000-000000000000"
    await client.get(f"/v1/tickets/{missing}", headers=await auth(Scope.handler))

    assert await audit_rows(runtime) == []


@pytest.fixture
async def audited(client: httpx.AsyncClient, auth: Auth, db_path: Path) -> Path:
    headers = await auth(Scope.coordinator)
    for _ in range(3):
        await read(client, (await submit(client))["id"], headers)
    return db_path


async def test_sanad_audit_verify_passes_an_untouched_log(
    audited: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert await sanad(audited) == 0
    assert "audit log intact: 6 entries" in capsys.readouterr().out


@pytest.mark.parametrize("tamper", ["edit", "remove", "reorder"])
async def test_sanad_audit_verify_fails_on_a_tampered_log(
    audited: Path, runtime: Runtime, tamper: str, capsys: pytest.CaptureFixture[str]
) -> None:
    async with runtime.writer_sessions() as session, session.begin():
        if tamper == "edit":
            await session.execute(update(LOG).where(LOG.c.seq == 2).values(token_id="someone"))
        elif tamper == "remove":
            await session.execute(delete(LOG).where(LOG.c.seq == 3))
        else:
            await session.execute(update(LOG).where(LOG.c.seq == 4).values(seq=-1))
            await session.execute(update(LOG).where(LOG.c.seq == 5).values(seq=4))
            await session.execute(update(LOG).where(LOG.c.seq == -1).values(seq=5))

    assert await sanad(audited) == 1
    assert "audit log broken" in capsys.readouterr().err
