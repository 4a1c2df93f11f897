"""What triage does with intake's later events: re-triage, SLA clock stops and pauses, erasure."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import clocks, repository, roster, service
from services.triage.domain import classify, priority_for
from services.triage.errors import NotTriagedYet
from services.triage.lexicon import Lexicon
from services.triage.models import Label
from services.triage.sla import ClockState
from shared.contracts import (
    Author,
    Category,
    Flag,
    Priority,
    RepriorityReason,
    RequesterErased,
    RequesterRole,
    TicketClosed,
    TicketMessageAdded,
    TicketStatus,
    TicketStatusChanged,
)
from shared.crypto import CryptoError, MasterKeyring, RecipientKeyPair, open_sealed
from shared.messaging.consumer import PermanentError


async def retriage(
    *,
    session: AsyncSession,
    event: TicketMessageAdded,
    lexicon: Lexicon,
    keys: RecipientKeyPair,
    masters: MasterKeyring,
    outbox: Table,
    now: datetime | None = None,
) -> None:
    """A requester wrote again: a more urgent reading is applied, a calmer one only suggested.

    A ticket nobody holds yet is offered to the roster again, at its new priority.
    """
    data = event.data
    if data.author is not Author.requester or data.internal or data.sealed_text is None:
        return
    if event.ticket_id is None:
        raise PermanentError("ticket.message_added without a ticket id")
    record = await repository.get(session, event.ticket_id)
    if record is None:
        raise NotTriagedYet()
    try:
        text = open_sealed(keys, data.sealed_text, aad=service.message_text_aad(data.message_id))
    except CryptoError as exc:
        raise PermanentError("sealed text cannot be opened") from exc
    role = RequesterRole(record.requester_role)
    result = classify(text, lexicon=lexicon, role=role)
    now = now or datetime.now(UTC)
    current = Priority(record.priority)
    # What is known already: the ticket's flags still hold beside the new message's.
    flags = sorted({Flag(f) for f in record.flags} | set(result.flags), key=list(Flag).index)
    together, _ = priority_for(result.category, set(flags), role, set())
    candidate = min(result.priority, together, key=lambda p: p.value)
    if service.outranks(candidate, current):
        # The new message's category leads only if it alone is more urgent than the ticket.
        raised_alone = service.outranks(result.priority, current)
        category = result.category if raised_alone else Category(record.category)
        record.reasons = [*record.reasons, *(f"re-triage: {r}" for r in result.reasons)]
        record.suggestion = None
        await service.apply_change(
            session=session,
            outbox=outbox,
            record=record,
            source=RepriorityReason.retriage,
            actor_id="triage",
            label=Label(category=category, flags=flags, priority=candidate),
            reason=None,
            now=now,
        )
    elif service.outranks(current, result.priority):
        record.suggestion = {
            "category": result.category.value,
            "flags": [f.value for f in result.flags],
            "priority": result.priority.value,
            "reasons": list(result.reasons),
            "message_id": str(data.message_id),
            "suggested_at": now.isoformat(),
        }
    await roster.auto_assign(
        session=session, outbox=outbox, masters=masters, record=record, now=now
    )


async def on_status_changed(*, session: AsyncSession, event: TicketStatusChanged) -> None:
    """Waiting on the requester pauses the clock; leaving that state resumes it."""
    if event.ticket_id is None:
        raise PermanentError("ticket.status_changed without a ticket id")
    data = event.data
    if data.to_status is TicketStatus.waiting_on_requester:
        await clocks.pause_clock(session=session, ticket_id=event.ticket_id, at=data.changed_at)
    elif data.from_status is TicketStatus.waiting_on_requester:
        await clocks.resume_clock(session=session, ticket_id=event.ticket_id, at=data.changed_at)


async def on_message_added(*, session: AsyncSession, event: TicketMessageAdded) -> None:
    """A handler's first reply to the requester (not an internal note) stops the clock."""
    if event.ticket_id is None:
        raise PermanentError("ticket.message_added without a ticket id")
    data = event.data
    if data.author is Author.handler and not data.internal:
        await clocks.stop_clock(
            session=session, ticket_id=event.ticket_id, state=ClockState.responded, at=data.added_at
        )


async def on_closed(*, session: AsyncSession, event: TicketClosed) -> None:
    """A closed ticket's clock stops for good, and it leaves its handler's load."""
    if event.ticket_id is None:
        raise PermanentError("ticket.closed without a ticket id")
    await repository.close_assignments(session, [event.ticket_id])
    await clocks.stop_clock(
        session=session, ticket_id=event.ticket_id, state=ClockState.closed, at=event.data.closed_at
    )


async def forget_requester(*, session: AsyncSession, event: RequesterErased) -> None:
    """Drop every word that may quote an erased requester, and their tickets' keys; the
    tickets leave their handlers' load; categories and times stay."""
    await repository.forget_words(session, event.data.ticket_ids)
    await repository.close_assignments(session, event.data.ticket_ids)
