"""triage_ticket: a received ticket is classified, stored once and announced once."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from services.triage.lexicon import Lexicon
from services.triage.models import TriageRecord
from services.triage.service import triage_ticket
from shared.app import Runtime
from shared.contracts import (
    Category,
    Flag,
    Priority,
    RequesterRole,
    TicketReceived,
    TicketTriaged,
    decode,
)
from shared.crypto import RecipientKeyPair
from shared.db import transaction
from shared.messaging.consumer import PermanentError
from shared.testing.events import RECEIVED_AT, ticket_received

TEXT = "They published my home address and say they will come, it is still happening"


@pytest.fixture
def received(content_keys: RecipientKeyPair) -> TicketReceived:
    return ticket_received(
        text=TEXT,
        sealed_for=content_keys.public_key,
        requester_role=RequesterRole.activist,
        country="TN",
    )


@pytest.fixture
def apply(runtime: Runtime, lexicon: Lexicon, content_keys: RecipientKeyPair) -> Any:
    """Apply an event as the consumer would: one transaction, committed."""

    async def _apply(event: TicketReceived) -> TriageRecord:
        async with transaction(runtime.writer_sessions) as session:
            return await triage_ticket(
                session=session,
                event=event,
                lexicon=lexicon,
                keys=content_keys,
                masters=runtime.extras["masters"],
                outbox=runtime.outbox,
            )

    return _apply


async def rows(runtime: Runtime) -> tuple[int, list[Any]]:
    async with runtime.sessions() as session:
        records = (await session.execute(select(func.count()).select_from(TriageRecord))).scalar()
        outbox = list((await session.execute(select(runtime.outbox))).all())
    return int(records or 0), outbox


async def test_a_received_ticket_is_triaged_stored_and_announced(
    apply: Any, runtime: Runtime, received: TicketReceived
) -> None:
    record = await apply(received)

    assert record.ticket_id == received.ticket_id
    assert record.category == Category.doxxing
    assert Flag.physical_threat in record.flags
    assert record.priority == Priority.P1
    assert record.received_at == RECEIVED_AT
    records, outbox = await rows(runtime)
    assert records == 1
    # A P1 also pages the lead (test_lead_paging.py); the triage is announced once.
    assert sorted(r.subject for r in outbox) == [
        "sanad.triage.lead.paged",
        "sanad.triage.ticket.triaged",
    ]
    (row,) = [r for r in outbox if r.subject == "sanad.triage.ticket.triaged"]
    event = decode(row.payload, subject=row.subject)
    assert isinstance(event, TicketTriaged)
    assert event.ticket_id == received.ticket_id
    assert (event.data.category, event.data.priority) == (Category.doxxing, Priority.P1)
    assert event.data.requester_role is RequesterRole.activist


async def test_the_announced_event_never_quotes_the_message(
    apply: Any, runtime: Runtime, received: TicketReceived
) -> None:
    await apply(received)

    _, outbox = await rows(runtime)
    assert len(outbox) == 2  # the triage and the lead's page
    for row in outbox:
        for words in ("home address", "still happening", "they will come"):
            assert words.encode() not in row.payload


async def test_triaging_the_same_ticket_twice_keeps_one_record_and_one_event(
    apply: Any, runtime: Runtime, received: TicketReceived
) -> None:
    first = await apply(received)
    second = await apply(received)

    assert second.triaged_at == first.triaged_at
    records, outbox = await rows(runtime)
    # One ticket.triaged and one lead.paged, not two of each.
    assert (records, len(outbox)) == (1, 2)


async def test_text_sealed_for_another_key_is_a_permanent_error(
    apply: Any, runtime: Runtime
) -> None:
    stranger = RecipientKeyPair.generate()

    with pytest.raises(PermanentError):
        await apply(ticket_received(text=TEXT, sealed_for=stranger.public_key))
    assert await rows(runtime) == (0, [])


async def test_text_sealed_for_another_ticket_is_a_permanent_error(
    apply: Any, content_keys: RecipientKeyPair
) -> None:
    sealed_elsewhere = ticket_received(text=TEXT, sealed_for=content_keys.public_key)
    moved = ticket_received(ticket_id=uuid.uuid4(), sealed_text=sealed_elsewhere.data.sealed_text)

    with pytest.raises(PermanentError):
        await apply(moved)


async def test_text_that_is_not_sealed_at_all_is_a_permanent_error(apply: Any) -> None:
    with pytest.raises(PermanentError):
        await apply(ticket_received(sealed_text="plain words, never sealed"))
