"""`sanad keys rotate` re-wraps triage's per-ticket keys too: reasons stay readable."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from services.triage.config import TriageSettings
from services.triage.main import create_app
from services.triage.models import TicketKey
from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.test_audit_and_reasons import REASON, override
from shared.app import Runtime
from shared.auth import Scope
from shared.cli import main
from shared.crypto import read_master_key_files, wrapped_key_id
from shared.testing.asgi import bearer, serve
from shared.testing.fixtures import Auth


@pytest.fixture(autouse=True)
def cli_env(settings: TriageSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANAD_VAR_DIR", str(settings.var_dir))
    monkeypatch.setenv("TRIAGE_DATABASE_URL", settings.database_url)
    monkeypatch.delenv("SANAD_MASTER_KEY", raising=False)


async def test_after_a_rotation_an_override_reason_still_reads(
    client: httpx.AsyncClient,
    auth: Auth,
    triaged: Triaged,
    settings: TriageSettings,
    runtime: Runtime,
) -> None:
    ticket_id = await triaged()
    assert (await override(client, auth, ticket_id)).status_code == 200
    before, _ = read_master_key_files(settings.keys_dir)

    # No intake database here: the rotation visits triage's alone.
    code = await asyncio.to_thread(main, ["keys", "rotate", "--grace", "0"])

    assert code == 0
    after, retired = read_master_key_files(settings.keys_dir)
    assert (after.key_id != before.key_id, retired) == (True, [])
    async with runtime.sessions() as session:
        wrapped = (await session.execute(select(col(TicketKey.wrapped_key)))).scalars().all()
    assert [wrapped_key_id(w) for w in wrapped if w] == [after.key_id]
    # A service started now knows only the new master: the reason must read under it.
    restarted = create_app(settings)
    async with serve(restarted) as fresh:
        headers = await bearer(restarted, Scope.handler)
        shown = await fresh.get(f"/v1/triage/{ticket_id}", headers=headers)
    assert shown.json()["changes"][0]["reason"] == REASON
