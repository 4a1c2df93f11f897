"""Erasing a requester: their data key is destroyed, and after the next key rotation no copy
of the database, not even one taken before the erasure, can give their data back."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from services.intake import domain
from services.intake.models import AUDIT_TABLES, Message, Requester
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_tickets import NAME, TEXT, submit
from shared.app import Runtime
from shared.auth import Scope
from shared.cli import main
from shared.contracts import RequesterErased, decode
from shared.crypto import (
    CryptoError,
    decrypt_field,
    read_master_key_files,
    unwrap_data_key,
    wrapped_key_id,
)
from shared.crypto import keyring as make_keyring
from shared.keyrotation import INTAKE_WRAPPED_KEYS


@pytest.fixture(autouse=True)
def cli_env(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SANAD_VAR_DIR", str(settings.var_dir))
    monkeypatch.delenv("SANAD_MASTER_KEY", raising=False)


async def rotate(db_path: Path, grace: float = 0.0) -> int:
    url = f"sqlite+aiosqlite:///{db_path}"
    args = ["keys", "rotate", "--database-url", url, "--grace", str(grace)]
    return await asyncio.to_thread(main, args)


async def requester_of(client: httpx.AsyncClient, ticket_id: str, auth: Auth) -> str:
    response = await client.get(f"/v1/tickets/{ticket_id}", headers=await auth(Scope.handler))
    assert response.status_code == 200, response.text
    requester_id: str = response.json()["requester"]["id"]
    return requester_id


def copy_database(db_path: Path, to: Path) -> Path:
    """A plain copy of the database files, as a backup tool or a thief would take it."""
    to.mkdir()
    for path in db_path.parent.glob(db_path.name + "*"):
        shutil.copy(path, to / path.name)
    return to / db_path.name


def stored(copy: Path, requester_id: str) -> tuple[bytes, bytes, list[tuple[str, bytes]]]:
    """The wrapped key, encrypted name and message ciphertexts of a requester in a copy."""
    with sqlite3.connect(copy) as conn:
        key, name = conn.execute(
            "SELECT wrapped_key, name_enc FROM requesters WHERE id = ?",
            (uuid.UUID(requester_id).hex,),
        ).fetchone()
        messages = conn.execute(
            "SELECT m.id, m.body_enc FROM messages m JOIN tickets t ON m.ticket_id = t.id "
            "WHERE t.requester_id = ?",
            (uuid.UUID(requester_id).hex,),
        ).fetchall()
    return key, name, [(str(uuid.UUID(mid)), body) for mid, body in messages]


def decrypt_copy(copy: Path, requester_id: str, keys_dir: Path) -> tuple[str, list[str]]:
    """Whatever the keys now on disk can read of a requester in a copy of the database."""
    wrapped, name_enc, messages = stored(copy, requester_id)
    current, retired = read_master_key_files(keys_dir)
    data_key = unwrap_data_key(make_keyring(current, *retired), wrapped, aad=requester_id.encode())
    name = decrypt_field(
        data_key, name_enc, aad=domain.field_aad("requesters", "name", requester_id)
    )
    texts = [
        decrypt_field(data_key, body, aad=domain.field_aad("messages", "body", mid))
        for mid, body in messages
    ]
    return name, texts


@pytest.fixture
async def ticket(client: httpx.AsyncClient) -> dict[str, Any]:
    return await submit(client)


async def erase(client: httpx.AsyncClient, requester_id: str, auth: Auth) -> httpx.Response:
    return await client.delete(
        f"/v1/requesters/{requester_id}", headers=await auth(Scope.coordinator)
    )


async def test_erasure_destroys_the_key_and_every_personal_field(
    client: httpx.AsyncClient, runtime: Runtime, ticket: dict[str, Any], auth: Auth
) -> None:
    requester_id = await requester_of(client, ticket["id"], auth)

    response = await erase(client, requester_id, auth)

    assert response.status_code == 200, response.text
    assert response.json()["ticket_ids"] == [ticket["id"]]
    async with runtime.sessions() as session:
        requester = await session.get(Requester, uuid.UUID(requester_id))
        bodies = (await session.execute(select(col(Message.body_enc)))).scalars().all()
    assert requester is not None
    assert (requester.wrapped_key, requester.name_enc, requester.contact_handle_enc) == (
        None,
        None,
        None,
    )
    assert (requester.country, requester.contact_channel, requester.role) == (None, None, "unknown")
    assert bodies == [b""]
    read = await client.get(f"/v1/tickets/{ticket['id']}", headers=await auth(Scope.handler))
    assert read.status_code == 404
    assert (await erase(client, requester_id, auth)).status_code == 404


async def test_erasure_publishes_requester_erased_and_is_audited(
    client: httpx.AsyncClient, runtime: Runtime, ticket: dict[str, Any], auth: Auth
) -> None:
    requester_id = await requester_of(client, ticket["id"], auth)
    await erase(client, requester_id, auth)

    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
        entries = (await session.execute(select(AUDIT_TABLES[0]))).all()
    (row,) = [r for r in rows if r.subject == "sanad.intake.requester.erased"]
    event = decode(row.payload, subject=row.subject)
    assert isinstance(event, RequesterErased)
    assert str(event.data.requester_id) == requester_id
    assert [str(t) for t in event.data.ticket_ids] == [ticket["id"]]
    assert NAME.encode() not in row.payload
    assert [(e.action, e.object_type) for e in entries][-2:] == [
        ("erase", "requester"),
        ("erase", "ticket"),
    ]


async def test_only_a_coordinator_may_erase(
    client: httpx.AsyncClient, ticket: dict[str, Any], auth: Auth
) -> None:
    requester_id = await requester_of(client, ticket["id"], auth)
    response = await client.delete(
        f"/v1/requesters/{requester_id}", headers=await auth(Scope.handler)
    )

    assert response.status_code == 403


async def test_after_the_next_rotation_a_copy_taken_before_the_erasure_is_unreadable(
    client: httpx.AsyncClient,
    ticket: dict[str, Any],
    auth: Auth,
    db_path: Path,
    tmp_path: Path,
    settings: Any,
) -> None:
    requester_id = await requester_of(client, ticket["id"], auth)
    other = await submit(client)
    backup = copy_database(db_path, tmp_path / "backup")
    await erase(client, requester_id, auth)
    # Until the master key that wrapped it is gone, the old copy still opens: this is why
    # erasure is completed by a rotation.
    assert decrypt_copy(backup, requester_id, settings.keys_dir) == (NAME, [TEXT])
    old_key = stored(backup, requester_id)[0]

    assert await rotate(db_path) == 0

    with pytest.raises(CryptoError):
        decrypt_copy(backup, requester_id, settings.keys_dir)
    live = b"".join(p.read_bytes() for p in db_path.parent.glob(db_path.name + "*"))
    current, retired = read_master_key_files(settings.keys_dir)
    assert retired == []
    assert wrapped_key_id(old_key) != current.key_id
    assert NAME.encode() not in live
    assert TEXT.encode() not in live
    # Everyone else is still readable, by the running service, under the new key.
    assert (await requester_of(client, other["id"], auth)) != requester_id


async def test_rotation_while_tickets_arrive_loses_none(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, db_path: Path, settings: Any
) -> None:
    before = [await submit(client) for _ in range(3)]
    rotation = asyncio.create_task(rotate(db_path, grace=1.5))
    during = []
    while not rotation.done():
        during.append(await submit(client))
        await asyncio.sleep(0.05)

    assert await rotation == 0
    current, retired = read_master_key_files(settings.keys_dir)
    assert retired == []
    async with runtime.sessions() as session:
        keys = (await session.execute(select(col(Requester.wrapped_key)))).scalars().all()
    assert {wrapped_key_id(k) for k in keys if k} == {current.key_id}
    headers = await auth(Scope.handler)
    for accepted in before + during:
        response = await client.get(f"/v1/tickets/{accepted['id']}", headers=headers)
        assert response.status_code == 200, response.text
    assert INTAKE_WRAPPED_KEYS.table == Requester.__tablename__
