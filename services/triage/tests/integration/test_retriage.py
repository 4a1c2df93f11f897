"""Re-triage on a requester's new message: more urgent is applied, calmer is only suggested."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.triage.errors import NotTriagedYet
from services.triage.followups import retriage
from services.triage.lexicon import Lexicon
from services.triage.service import read_triage
from services.triage.tests.builders import message_added
from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.events import staged
from shared.app import Runtime
from shared.contracts import Author, TicketMessageAdded, TicketReprioritised
from shared.crypto import RecipientKeyPair
from shared.db import transaction
from shared.messaging.consumer import PermanentError

HACKED = "Someone hacked my email account and changed the password"
THREAT = "They posted my home address online and said they will come to kill me"
CALM = "Thanks, I only want general advice on choosing a password manager"
REPRIORITISED = "sanad.triage.ticket.reprioritised"


@pytest.fixture
def apply(runtime: Runtime, lexicon: Lexicon, content_keys: RecipientKeyPair) -> Any:
    async def _apply(event: TicketMessageAdded) -> None:
        async with transaction(runtime.writer_sessions) as session:
            await retriage(
                session=session,
                event=event,
                lexicon=lexicon,
                keys=content_keys,
                masters=runtime.extras["masters"],
                outbox=runtime.outbox,
            )

    return _apply


async def detail(runtime: Runtime, ticket_id: uuid.UUID) -> Any:
    async with runtime.sessions() as session:
        return await read_triage(session=session, ticket_id=ticket_id)


async def test_a_new_threat_raises_the_priority_and_is_announced(
    apply: Any, runtime: Runtime, triaged: Triaged, content_keys: RecipientKeyPair
) -> None:
    ticket_id = await triaged(HACKED)

    await apply(message_added(ticket_id, text=THREAT, sealed_for=content_keys.public_key))

    after = await detail(runtime, ticket_id)
    assert (after.category, after.priority) == ("doxxing", "P1")
    assert "physical_threat" in after.flags
    assert "account_compromise" in after.secondary_categories
    assert after.classifier.priority == "P2"
    assert any(r.startswith("re-triage:") for r in after.reasons)
    (change,) = after.changes
    assert (change.source, change.actor_id, change.reason) == ("retriage", "triage", None)
    (event,) = await staged(runtime, REPRIORITISED)
    assert isinstance(event, TicketReprioritised)
    assert (event.data.reason, event.data.from_priority, event.data.priority) == (
        "retriage",
        "P2",
        "P1",
    )
    assert b"kill" not in event.model_dump_json().encode()


async def test_the_sla_due_time_follows_a_raised_priority(
    apply: Any, runtime: Runtime, triaged: Triaged, content_keys: RecipientKeyPair
) -> None:
    ticket_id = await triaged(HACKED)
    before = (await detail(runtime, ticket_id)).sla

    await apply(message_added(ticket_id, text=THREAT, sealed_for=content_keys.public_key))

    after = (await detail(runtime, ticket_id)).sla
    assert after.received_at == before.received_at
    assert (after.due_at - after.received_at).total_seconds() == 3600
    assert (before.due_at - before.received_at).total_seconds() == 7200


async def test_a_calmer_message_is_only_suggested(
    apply: Any, runtime: Runtime, triaged: Triaged, content_keys: RecipientKeyPair
) -> None:
    ticket_id = await triaged(HACKED)
    message = message_added(ticket_id, text=CALM, sealed_for=content_keys.public_key)

    await apply(message)

    after = await detail(runtime, ticket_id)
    assert (after.category, after.priority) == ("account_compromise", "P2")
    assert after.changes == []
    assert after.suggestion is not None
    assert (after.suggestion.category, after.suggestion.priority) == ("advice", "P4")
    assert after.suggestion.message_id == message.data.message_id
    assert await staged(runtime, REPRIORITISED) == []


async def test_a_message_of_the_same_urgency_changes_nothing(
    apply: Any, runtime: Runtime, triaged: Triaged, content_keys: RecipientKeyPair
) -> None:
    ticket_id = await triaged(HACKED)

    await apply(message_added(ticket_id, text=HACKED, sealed_for=content_keys.public_key))

    after = await detail(runtime, ticket_id)
    assert (after.priority, after.changes, after.suggestion) == ("P2", [], None)


@pytest.mark.parametrize(
    "fields", [{"author": Author.handler}, {"internal": True}], ids=["handler", "internal"]
)
async def test_only_a_requesters_own_messages_are_retriaged(
    apply: Any,
    runtime: Runtime,
    triaged: Triaged,
    content_keys: RecipientKeyPair,
    fields: dict[str, Any],
) -> None:
    ticket_id = await triaged(HACKED)

    await apply(message_added(ticket_id, text=THREAT, sealed_for=content_keys.public_key, **fields))

    assert (await detail(runtime, ticket_id)).priority == "P2"


async def test_a_message_before_its_ticket_is_triaged_is_retried(
    apply: Any, content_keys: RecipientKeyPair
) -> None:
    with pytest.raises(NotTriagedYet):
        await apply(message_added(uuid.uuid4(), text=THREAT, sealed_for=content_keys.public_key))


async def test_text_sealed_for_another_message_is_a_permanent_error(
    apply: Any, triaged: Triaged, content_keys: RecipientKeyPair
) -> None:
    ticket_id = await triaged(HACKED)
    elsewhere = message_added(ticket_id, text=THREAT, sealed_for=content_keys.public_key)
    moved = message_added(ticket_id, text=None)
    moved = moved.model_copy(
        update={"data": moved.data.model_copy(update={"sealed_text": elsewhere.data.sealed_text})}
    )

    with pytest.raises(PermanentError):
        await apply(moved)
