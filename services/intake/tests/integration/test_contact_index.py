"""Contacts are matched by a keyed hash of the normalised handle, never by their text."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import select

from services.intake import repository
from services.intake.keys import IntakeKeys
from services.intake.models import Requester, Ticket
from services.intake.tests.integration.test_tickets import TICKET, submit
from shared.app import Runtime

NUMBER = "+961 70 123 456"


def _with_contact(handle: str = NUMBER, channel: str = "whatsapp") -> dict[str, Any]:
    return {**TICKET, "contact": {"channel": channel, "handle": handle}}


async def _requester(runtime: Runtime, ticket_id: str) -> Requester:
    async with runtime.sessions() as session:
        ticket = await session.get(Ticket, uuid.UUID(ticket_id))
        assert ticket is not None
        requester = await session.get(Requester, ticket.requester_id)
    assert requester is not None
    return requester


async def test_a_form_contact_is_indexed_by_a_keyed_hash_of_the_normalised_handle(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    keys: IntakeKeys = runtime.extras["keys"]
    accepted = await submit(client, _with_contact())

    requester = await _requester(runtime, accepted["id"])

    index, key_id = keys.contact_index("whatsapp", "+96170123456")
    assert (requester.contact_index, requester.contact_index_key) == (index, key_id)
    assert requester.contact_index == keys.contact_index("whatsapp", "+٩٦١٧٠١٢٣٤٥٦")[0]
    assert "96170123456" not in requester.contact_index
    assert requester.contact_index != keys.contact_index("signal", "+96170123456")[0]


async def test_a_ticket_without_contact_has_no_index(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = {k: v for k, v in TICKET.items() if k != "contact"}
    requester = await _requester(runtime, (await submit(client, body))["id"])

    assert requester.contact_index is None


async def test_the_open_ticket_of_a_contact_is_found_and_a_closed_one_is_not(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    keys: IntakeKeys = runtime.extras["keys"]
    accepted = await submit(client, _with_contact())
    await submit(client, _with_contact("+961 70 999 999"))
    indexes = keys.contact_indexes("whatsapp", "0096170123456".replace("00", "+", 1))

    async with runtime.writer_sessions() as session, session.begin():
        found = await repository.open_ticket_by_contact(session, "whatsapp", indexes)
        assert found is not None
        assert str(found.id) == accepted["id"]
        found.status = "closed"
    async with runtime.sessions() as session:
        assert await repository.open_ticket_by_contact(session, "whatsapp", indexes) is None
        assert await repository.open_ticket_by_contact(session, "signal", indexes) is None
        assert (await session.execute(select(Ticket))).scalars().all()
