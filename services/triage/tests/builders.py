"""Builders for intake's later events, as triage receives them; defaults everywhere."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from shared.contracts import (
    Author,
    Channel,
    Outcome,
    TicketClosed,
    TicketClosedData,
    TicketMessageAdded,
    TicketMessageAddedData,
    TicketStatus,
    TicketStatusChanged,
    TicketStatusChangedData,
)
from shared.crypto import RecipientPublicKey, seal
from shared.testing.events import RECEIVED_AT


def message_added(
    ticket_id: uuid.UUID,
    *,
    text: str | None = None,
    sealed_for: RecipientPublicKey | None = None,
    author: Author = Author.requester,
    internal: bool = False,
    at: datetime | None = None,
    message_id: uuid.UUID | None = None,
) -> TicketMessageAdded:
    """A message on `ticket_id`; a requester's text is sealed for `sealed_for`."""
    message_id = message_id or uuid.uuid4()
    aad = f"sanad:ticket.message_added:{message_id}".encode()
    sealed = seal(sealed_for, text, aad=aad) if sealed_for and text is not None else None
    added_at = at or RECEIVED_AT + timedelta(minutes=20)
    return TicketMessageAdded(
        ticket_id=ticket_id,
        occurred_at=added_at,
        data=TicketMessageAddedData(
            message_id=message_id,
            author=author,
            channel=Channel.web,
            internal=internal,
            sealed_text=sealed,
            added_at=added_at,
        ),
    )


def status_changed(
    ticket_id: uuid.UUID, from_status: TicketStatus, to_status: TicketStatus, at: datetime
) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_id=ticket_id,
        occurred_at=at,
        data=TicketStatusChangedData(
            from_status=from_status, to_status=to_status, actor_id="tok-handler", changed_at=at
        ),
    )


def closed(ticket_id: uuid.UUID, at: datetime) -> TicketClosed:
    return TicketClosed(
        ticket_id=ticket_id,
        occurred_at=at,
        data=TicketClosedData(outcome=Outcome.resolved, actor_id="tok-handler", closed_at=at),
    )
