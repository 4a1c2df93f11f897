"""Event builders with defaults: a test names only the fields it is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.contracts import (
    Category,
    Channel,
    Flag,
    Priority,
    RequesterErased,
    RequesterErasedData,
    RequesterRole,
    TicketReceived,
    TicketReceivedData,
    TicketTriaged,
    TicketTriagedData,
)
from shared.crypto import RecipientPublicKey, seal

RECEIVED_AT = datetime(2025, 3, 14, 9, 30, tzinfo=UTC)


def sealed_text_aad(ticket_id: uuid.UUID) -> bytes:
    """What intake binds the sealed text of a ticket to (and triage opens it with)."""
    return f"sanad:ticket.received:{ticket_id}".encode()


def ticket_received(
    *,
    ticket_id: uuid.UUID | None = None,
    text: str = "Someone hacked my email account and changed the password",
    sealed_for: RecipientPublicKey | None = None,
    **data: Any,
) -> TicketReceived:
    """A `ticket.received`; its text is sealed for `sealed_for` when given, else opaque."""
    ticket_id = ticket_id or uuid.uuid4()
    sealed = (
        seal(sealed_for, text, aad=sealed_text_aad(ticket_id))
        if sealed_for is not None
        else "not-sealed-for-anyone"
    )
    fields: dict[str, Any] = {
        "reference": "SND-TEST0",
        "requester_id": uuid.uuid4(),
        "channel": Channel.web,
        "requester_role": RequesterRole.unknown,
        "country": None,
        "received_at": RECEIVED_AT,
        "sealed_text": sealed,
        **data,
    }
    return TicketReceived(
        ticket_id=ticket_id,
        occurred_at=fields["received_at"],
        data=TicketReceivedData(**fields),
    )


def ticket_triaged(
    *,
    ticket_id: uuid.UUID | None = None,
    category: Category = Category.account_compromise,
    priority: Priority = Priority.P2,
    flags: tuple[Flag, ...] = (),
    **data: Any,
) -> TicketTriaged:
    """A `ticket.triaged`, triaged ten minutes after it was received."""
    fields: dict[str, Any] = {
        "category": category,
        "priority": priority,
        "flags": flags,
        "language": "en",
        "confidence": 0.8,
        "needs_review": False,
        "requester_role": RequesterRole.unknown,
        "channel": Channel.web,
        "received_at": RECEIVED_AT,
        "triaged_at": RECEIVED_AT + timedelta(minutes=10),
        **data,
    }
    return TicketTriaged(
        ticket_id=ticket_id or uuid.uuid4(),
        occurred_at=fields["triaged_at"],
        data=TicketTriagedData(**fields),
    )


def requester_erased(
    *, requester_id: uuid.UUID | None = None, ticket_ids: tuple[uuid.UUID, ...] | None = None
) -> RequesterErased:
    """A `requester.erased` for a requester with one ticket."""
    erased_at = RECEIVED_AT + timedelta(days=30)
    return RequesterErased(
        occurred_at=erased_at,
        data=RequesterErasedData(
            requester_id=requester_id or uuid.uuid4(),
            ticket_ids=(uuid.uuid4(),) if ticket_ids is None else ticket_ids,
            erased_at=erased_at,
        ),
    )
