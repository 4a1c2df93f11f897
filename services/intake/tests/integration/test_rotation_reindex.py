"""A contact keeps matching its open ticket across a master key rotation.

Contact indexes are keyed under the master; `sanad keys rotate` waits for intake's
re-index job before it destroys the old master, and refuses to destroy it when
no running intake re-computes them.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import httpx
import pytest

from services.intake import repository
from services.intake.config import IntakeSettings
from services.intake.keys import IntakeKeys
from services.intake.models import Requester, Ticket
from services.intake.reindex import reindex_contacts
from services.intake.tests.integration.test_tickets import TICKET, submit
from shared.app import Runtime
from shared.cli import main
from shared.crypto import RETIRED_GLOB, read_master_key_files

CONTACT = {"channel": "whatsapp", "handle": "+961 71 555 010"}


@pytest.fixture(autouse=True)
def cli_env(settings: IntakeSettings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANAD_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("SANAD_MASTER_KEY", raising=False)


@pytest.fixture
def reindex_seconds() -> float:
    return 0.2


@pytest.fixture
def settings(tmp_path: Path, db_path: Path, reindex_seconds: float) -> IntakeSettings:
    """Intake's test settings with a quick re-index job (a test may turn it off)."""
    return IntakeSettings(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{db_path}",
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}",
        bus_enabled=False,
        rate_limit_public_per_minute=0,
        reindex_check_seconds=reindex_seconds,
    )


async def rotate(db_path: Path, *extra: str) -> int:
    url = f"sqlite+aiosqlite:///{db_path}"
    args = ["keys", "rotate", "--database-url", url, "--grace", "0", *extra]
    return await asyncio.to_thread(main, args)


async def requester_of(runtime: Runtime, ticket_id: str) -> Requester:
    async with runtime.sessions() as session:
        ticket = await session.get(Ticket, uuid.UUID(ticket_id))
        assert ticket is not None
        requester = await session.get(Requester, ticket.requester_id)
    assert requester is not None
    return requester


async def test_after_a_rotation_the_contact_still_finds_its_open_ticket(
    client: httpx.AsyncClient, runtime: Runtime, db_path: Path, settings: IntakeSettings
) -> None:
    accepted = await submit(client, {**TICKET, "contact": CONTACT})
    before = await requester_of(runtime, accepted["id"])

    assert await rotate(db_path) == 0

    current, retired = read_master_key_files(settings.keys_dir)
    assert retired == []
    assert list(settings.keys_dir.glob(RETIRED_GLOB)) == []
    after = await requester_of(runtime, accepted["id"])
    assert after.contact_index_key == current.key_id != before.contact_index_key
    assert after.contact_index != before.contact_index
    keys: IntakeKeys = runtime.extras["keys"]
    indexes = keys.contact_indexes("whatsapp", "+96171555010")
    async with runtime.sessions() as session:
        found = await repository.open_ticket_by_contact(session, "whatsapp", indexes)
    assert found is not None
    assert str(found.id) == accepted["id"]


async def test_rows_without_a_key_id_are_indexed_again_once(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    accepted = await submit(client, {**TICKET, "contact": CONTACT})
    original = await requester_of(runtime, accepted["id"])
    async with runtime.writer_sessions() as session, session.begin():
        row = await session.get(Requester, original.id)
        assert row is not None
        row.contact_index_key = None  # as a row written before the column existed

    keys: IntakeKeys = runtime.extras["keys"]
    assert await reindex_contacts(runtime.writer_sessions, keys) == 1
    assert await reindex_contacts(runtime.writer_sessions, keys) == 0
    again = await requester_of(runtime, accepted["id"])
    assert (again.contact_index, again.contact_index_key) == (
        original.contact_index,
        original.contact_index_key,
    )


@pytest.mark.parametrize("reindex_seconds", [0.0])
async def test_without_intake_re_indexing_the_old_master_is_kept(
    client: httpx.AsyncClient, runtime: Runtime, db_path: Path, settings: IntakeSettings
) -> None:
    await submit(client, {**TICKET, "contact": CONTACT})

    assert await rotate(db_path, "--reindex-timeout", "1") == 1

    _, retired = read_master_key_files(settings.keys_dir)
    assert len(retired) == 1  # nothing became unmatched: the old master is still there
