"""A master-key rotation re-wraps escalation's keys; erasure shreds a ticket's key."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select
from sqlmodel import col

from services.escalation import records
from services.escalation.keys import ESCALATION_WRAPPED_KEYS, ContentKey, open_token
from services.escalation.models import Partner, TicketKey
from services.escalation.signing import SigningKey, public_key_text
from services.escalation.tests.integration.test_escalations import give_consent, open_one, seed
from shared.app import Runtime
from shared.auth import Scope
from shared.crypto import (
    MASTER_FILE,
    MasterKey,
    MasterKeyring,
    destroy_key_file,
    keyring,
    read_master_key_files,
    wrapped_key_id,
    write_master_key_file,
)
from shared.db import transaction
from shared.keyrotation import rewrap
from shared.testing.events import requester_erased
from shared.testing.fixtures import Auth

TOKEN = "snd_partner-token-canary-5c1d0e9a"


async def _partner(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.post(
        "/v1/partners",
        json={
            "id": "helpline-b",
            "name": "Helpline B",
            "endpoint": "https://helpline-b.test/v1/referrals",
            "public_key": public_key_text(SigningKey.generate().public),
            "token": TOKEN,
        },
        headers=await auth(Scope.coordinator),
    )
    assert response.status_code == 201, response.text


async def _refer(client: httpx.AsyncClient, auth: Auth, ticket_id: uuid.UUID) -> str:
    response = await client.post(
        "/v1/referrals/outbound",
        json={
            "ticket_id": str(ticket_id),
            "partner_id": "helpline-b",
            "summary": "A summary to keep",
            "ask": "Help",
        },
        headers=await auth(Scope.handler),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


async def _rotate(runtime: Runtime) -> tuple[str, str]:
    """What `sanad keys rotate` does, step by step, on escalation's tables alone."""
    keys_dir = runtime.settings.keys_dir
    old, _ = read_master_key_files(keys_dir)
    new = MasterKey.generate()
    retired = keys_dir / f"master-retired-{old.key_id}.key"
    write_master_key_file(retired, old)
    write_master_key_file(keys_dir / MASTER_FILE, new)
    for where in ESCALATION_WRAPPED_KEYS:
        await rewrap(runtime.writer_engine, where, masters=keyring(new, old), to=new)
    destroy_key_file(retired)
    masters = runtime.extras["content_key"].masters
    assert isinstance(masters, MasterKeyring)
    masters.reload()
    return old.key_id, new.key_id


async def test_a_rotation_keeps_escalation_texts_and_tokens_readable(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, requester_id = await seed(runtime)
    await give_consent(runtime, requester_id, platforms=True, partners=True)
    await _partner(client, auth)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]
    referral_id = await _refer(client, auth, ticket_id)

    old_id, new_id = await _rotate(runtime)

    key: ContentKey = runtime.extras["content_key"]
    assert old_id not in key.masters
    handler = await auth(Scope.handler)
    escalation = (await client.get(f"/v1/escalations/{escalation_id}", headers=handler)).json()
    referral = (await client.get(f"/v1/referrals/{referral_id}", headers=handler)).json()
    assert escalation["content"]["account_handle"] == "@canary_handle_51"
    assert referral["details"]["summary"] == "A summary to keep"
    async with runtime.sessions() as session:
        partner = await session.get(Partner, "helpline-b")
        wrapped = (await session.execute(select(col(TicketKey.wrapped_key)))).scalars().all()
    assert partner is not None
    assert open_token(key, partner) == TOKEN
    assert partner.token_wrapped_key is not None
    assert {wrapped_key_id(w) for w in [*wrapped, partner.token_wrapped_key] if w} == {new_id}


async def test_erasure_shreds_the_ticket_key(
    client: httpx.AsyncClient, auth: Auth, runtime: Runtime
) -> None:
    ticket_id, requester_id = await seed(runtime)
    escalation_id = (await open_one(client, auth, ticket_id)).json()["id"]

    async with transaction(runtime.writer_sessions) as session:
        await records.forget_requester(
            session=session,
            event=requester_erased(requester_id=requester_id, ticket_ids=(ticket_id,)),
        )
    async with runtime.sessions() as session:
        row = await session.get(TicketKey, ticket_id)
    again = await open_one(client, auth, ticket_id)

    assert row is not None
    assert row.wrapped_key is None
    read = await client.get(f"/v1/escalations/{escalation_id}", headers=await auth(Scope.handler))
    assert read.json()["content"] is None
    # An escalation opened after the erasure keeps nothing of the person.
    assert (again.json()["content"], again.json()["content_erased"]) == (None, True)
