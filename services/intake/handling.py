"""Handler use cases on tickets: list, reply or note, status lifecycle, close; each audited."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy import event as sa_event
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, repository
from services.intake.errors import InvalidCursor, InvalidTransition, TicketNotFound
from services.intake.keys import IntakeKeys
from services.intake.models import (
    AUDIT_TABLES,
    Delivery,
    DeliveryState,
    Message,
    MessageAdded,
    Ticket,
    TicketPage,
    TicketState,
    TicketSummary,
)
from services.intake.service import message_text_aad, provider_id_aad, requester_key
from shared import audit
from shared.audit import ObjectType
from shared.auth import Principal
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
from shared.crypto import encrypt_field
from shared.messaging.outbox import add_to_outbox

REQUESTER_ACTOR = "requester"
# Why a reply was not sent: the person listed its channel among the ways not to reach them.
DO_NOT_CONTACT = "do_not_contact"
# Channels with a way back to the person; a web ticket's replies wait on the follow-up page.
_SENDING_CHANNELS = frozenset({Channel.email, Channel.whatsapp, Channel.signal})


async def list_tickets(
    *,
    session: AsyncSession,
    actor: Principal,
    status: TicketStatus | None = None,
    channel: Channel | None = None,
    language: str | None = None,
    received_from: datetime | None = None,
    received_before: datetime | None = None,
    assigned_handler: str | None = None,
    unassigned: bool = False,
    cursor: str | None = None,
    limit: int = 50,
) -> TicketPage:
    """A page of tickets, newest first, without decrypting anything; audited."""
    try:
        after = domain.decode_cursor(cursor) if cursor else None
    except domain.InvalidCursor as exc:
        raise InvalidCursor() from exc
    tickets = await repository.list_tickets(
        session,
        status=status.value if status else None,
        channel=channel.value if channel else None,
        language=language,
        received_from=received_from,
        received_before=received_before,
        assigned_handler=assigned_handler,
        unassigned=unassigned,
        after=after,
        limit=limit + 1,
    )
    page, more = list(tickets[:limit]), len(tickets) > limit
    if page:
        # A reference and a status are still a read of the case: the list is audited too.
        await audit.record(
            session,
            AUDIT_TABLES,
            actor=actor,
            action=audit.Action.read,
            objects=[(ObjectType.ticket, str(t.id)) for t in page],
        )
    last = page[-1] if more else None
    return TicketPage(
        items=[_summary(t) for t in page],
        next_cursor=domain.encode_cursor(last.received_at, last.id) if last else None,
    )


def _summary(ticket: Ticket) -> TicketSummary:
    return TicketSummary(
        id=ticket.id,
        reference=ticket.reference,
        status=ticket.status,
        channel=ticket.channel,
        declared_language=ticket.declared_language,
        received_at=ticket.received_at,
        updated_at=ticket.updated_at,
        category=ticket.category,
        priority=ticket.priority,
        outcome=ticket.outcome,
        assigned_handler_id=ticket.assigned_handler_id,
    )


async def add_handler_message(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    ticket_id: uuid.UUID,
    text: str,
    internal: bool,
    actor: Principal,
    now: datetime | None = None,
    on_queued: Callable[[], None] | None = None,
) -> MessageAdded:
    """A reply to the requester (recorded for delivery) or an internal note; audited.

    `on_queued` is called once the transaction holding a reply to send has committed (it
    wakes the sender, services.intake.outbound).
    """
    at = now or datetime.now(UTC)
    ticket = await _ticket(session, ticket_id)
    if not internal and not domain.can_reply(ticket.status):
        raise InvalidTransition("A closed ticket takes no replies; reopen it first.")
    requester = await repository.get_requester(session, ticket.requester_id)
    data_key = requester_key(keys, requester)
    message_id = uuid.uuid4()
    message = Message(
        id=message_id,
        ticket_id=ticket.id,
        author=Author.handler.value,
        internal=internal,
        body_enc=encrypt_field(
            data_key, text, aad=domain.field_aad("messages", "body", str(message_id))
        ),
        created_at=at,
    )
    delivery = None
    if not internal:
        assert requester is not None
        delivery = reply_delivery(ticket.channel, requester.avoid_channels)
    ticket.updated_at = at
    repository.add(session, message)
    await session.flush()
    if delivery is DeliveryState.pending and on_queued is not None:
        wake = on_queued
        sa_event.listen(session.sync_session, "after_commit", lambda _s: wake(), once=True)
    if delivery is not None:
        repository.add(
            session,
            Delivery(
                message_id=message_id,
                ticket_id=ticket.id,
                channel=ticket.channel,
                state=delivery.value,
                created_at=at,
                updated_at=at,
                next_attempt_at=at if delivery is DeliveryState.pending else None,
                last_error=DO_NOT_CONTACT if delivery is DeliveryState.withheld else None,
            ),
        )
    event = TicketMessageAdded(
        ticket_id=ticket.id,
        occurred_at=at,
        data=TicketMessageAddedData(
            message_id=message_id,
            author=Author.handler,
            channel=Channel(ticket.channel),
            internal=internal,
            added_at=at,
        ),
    )
    await add_to_outbox(session, outbox, event)
    await _audit_update(session, actor, ticket, at)
    return MessageAdded(
        id=message_id,
        ticket_id=ticket.id,
        internal=internal,
        created_at=at,
        delivery=delivery,
        status=ticket.status,
    )


def reply_delivery(channel: str, avoid_channels: str | None) -> DeliveryState:
    """How a reply reaches the person: their channel, unless they asked not to be contacted
    through it (then it is withheld and the handler told), or the follow-up page."""
    if channel not in _SENDING_CHANNELS:
        return DeliveryState.on_follow_up_page
    if channel in (avoid_channels or "").split(","):
        return DeliveryState.withheld
    return DeliveryState.pending


async def add_requester_message(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    ticket: Ticket,
    text: str,
    channel: Channel,
    now: datetime | None = None,
    message_id: uuid.UUID | None = None,
    provider_ref: str | None = None,
    provider_id: str | None = None,
) -> uuid.UUID:
    """A requester wrote again: store it, seal it for triage, reopen the ticket if it waited."""
    at = now or datetime.now(UTC)
    data_key = requester_key(keys, await repository.get_requester(session, ticket.requester_id))
    message_id = message_id or uuid.uuid4()
    repository.add(
        session,
        Message(
            id=message_id,
            ticket_id=ticket.id,
            author=Author.requester.value,
            internal=False,
            body_enc=encrypt_field(
                data_key, text, aad=domain.field_aad("messages", "body", str(message_id))
            ),
            created_at=at,
            provider_ref=provider_ref,
            provider_id_enc=(
                encrypt_field(data_key, provider_id, aad=provider_id_aad(message_id))
                if provider_id
                else None
            ),
        ),
    )
    events: list[TicketMessageAdded | TicketStatusChanged] = [
        TicketMessageAdded(
            ticket_id=ticket.id,
            occurred_at=at,
            data=TicketMessageAddedData(
                message_id=message_id,
                author=Author.requester,
                channel=channel,
                sealed_text=keys.triage_sealer.seal(text, aad=message_text_aad(message_id)),
                added_at=at,
            ),
        )
    ]
    reopened = domain.after_requester_message(ticket.status)
    if reopened is not None:
        events.append(_status_changed(ticket, reopened, REQUESTER_ACTOR, at))
        ticket.status, ticket.outcome, ticket.closed_at = reopened, None, None
    ticket.updated_at = at
    await add_to_outbox(session, outbox, *events)
    return message_id


async def change_status(
    *,
    session: AsyncSession,
    outbox: Table,
    ticket_id: uuid.UUID,
    to: TicketStatus,
    actor: Principal,
    now: datetime | None = None,
) -> TicketState:
    """Move a ticket along its lifecycle (closing needs `close_ticket`); audited."""
    at = now or datetime.now(UTC)
    ticket = await _ticket(session, ticket_id)
    try:
        target = domain.move(ticket.status, to.value)
    except domain.InvalidTransition as exc:
        raise InvalidTransition(str(exc)) from exc
    event = _status_changed(ticket, target, actor.token_id, at)
    ticket.status, ticket.updated_at = target, at
    if target != domain.CLOSED:
        ticket.outcome, ticket.closed_at = None, None
    await add_to_outbox(session, outbox, event)
    await _audit_update(session, actor, ticket, at)
    return _state(ticket, at)


async def close_ticket(
    *,
    session: AsyncSession,
    outbox: Table,
    ticket_id: uuid.UUID,
    outcome: Outcome,
    actor: Principal,
    now: datetime | None = None,
) -> TicketState:
    """Close a ticket with its outcome: `ticket.status_changed` and `ticket.closed`; audited."""
    at = now or datetime.now(UTC)
    ticket = await _ticket(session, ticket_id)
    try:
        target = domain.close(ticket.status)
    except domain.InvalidTransition as exc:
        raise InvalidTransition(str(exc)) from exc
    changed = _status_changed(ticket, target, actor.token_id, at)
    closed = TicketClosed(
        ticket_id=ticket.id,
        occurred_at=at,
        data=TicketClosedData(outcome=outcome, actor_id=actor.token_id, closed_at=at),
    )
    ticket.status, ticket.outcome, ticket.closed_at, ticket.updated_at = (
        target,
        outcome.value,
        at,
        at,
    )
    await add_to_outbox(session, outbox, changed, closed)
    await _audit_update(session, actor, ticket, at)
    return _state(ticket, at)


async def _ticket(session: AsyncSession, ticket_id: uuid.UUID) -> Ticket:
    ticket = await repository.get_ticket_for_update(session, ticket_id)
    if ticket is None:
        raise TicketNotFound()
    return ticket


def _status_changed(ticket: Ticket, to: str, actor_id: str, at: datetime) -> TicketStatusChanged:
    return TicketStatusChanged(
        ticket_id=ticket.id,
        occurred_at=at,
        data=TicketStatusChangedData(
            from_status=TicketStatus(ticket.status),
            to_status=TicketStatus(to),
            actor_id=actor_id,
            changed_at=at,
        ),
    )


def _state(ticket: Ticket, at: datetime) -> TicketState:
    return TicketState(id=ticket.id, status=ticket.status, outcome=ticket.outcome, updated_at=at)


async def _audit_update(
    session: AsyncSession, actor: Principal, ticket: Ticket, at: datetime
) -> None:
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=audit.Action.update,
        objects=[(ObjectType.ticket, str(ticket.id))],
        now=at,
    )
