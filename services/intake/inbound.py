"""Messages from WhatsApp and Signal: a new ticket, or the sender's open ticket; once each."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import channels, domain, handling, repository
from services.intake.channels import Inbound
from services.intake.config import IntakeSettings
from services.intake.keys import IntakeKeys
from services.intake.models import Attachment, Contact, ContactChannel, TicketCreate
from services.intake.service import requester_key, ticket_rows
from shared.crypto import encrypt_field

log = logging.getLogger(__name__)


class WebhookReceipt(BaseModel):
    """What a delivery held and how much of it was new."""

    received: int
    stored: int


async def receive_whatsapp(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    settings: IntakeSettings,
    outbox: Table,
    body: bytes,
    signature: str | None,
) -> WebhookReceipt:
    """A signed Cloud API delivery: each message stored unless it was delivered before."""
    channels.check_whatsapp_signature(settings.whatsapp_app_secret, body, signature)
    messages = channels.read_whatsapp(body)
    return await receive(session=session, keys=keys, outbox=outbox, messages=messages)


async def receive_signal(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    settings: IntakeSettings,
    outbox: Table,
    body: bytes,
    authorization: str | None,
) -> WebhookReceipt:
    """A signal-cli `receive` notification from the bridge holding our shared secret."""
    channels.check_bearer(settings.signal_webhook_token, authorization)
    messages = channels.read_signal(body)
    return await receive(session=session, keys=keys, outbox=outbox, messages=messages)


async def receive(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    messages: Sequence[Inbound],
    now: datetime | None = None,
) -> WebhookReceipt:
    """Store each message on its sender's open ticket or a new one; re-deliveries add nothing."""
    at = now or datetime.now(UTC)
    stored = 0
    for position, message in enumerate(messages):
        channel = message.channel.value
        if await repository.delivery_seen(
            session, keys.delivery_indexes(channel, message.provider_id)
        ):
            log.info("channel.redelivered", extra={"channel": channel})
            continue
        # Messages of one delivery keep their order on the ticket (listed by time, then id).
        at_position = at + timedelta(microseconds=position)
        await _store(session=session, keys=keys, outbox=outbox, message=message, at=at_position)
        stored += 1
    return WebhookReceipt(received=len(messages), stored=stored)


async def _store(
    *, session: AsyncSession, keys: IntakeKeys, outbox: Table, message: Inbound, at: datetime
) -> None:
    channel = message.channel.value
    provider_ref = keys.delivery_index(channel, message.provider_id)
    contacts = keys.contact_indexes(channel, message.sender)
    message_id = uuid.uuid4()
    ticket = await repository.open_ticket_by_contact(session, channel, contacts)
    if ticket is not None:
        await handling.add_requester_message(
            session=session,
            keys=keys,
            outbox=outbox,
            ticket=ticket,
            text=message.text,
            channel=message.channel,
            now=at,
            message_id=message_id,
            provider_ref=provider_ref,
        )
        ticket_id, requester_id, joined = ticket.id, ticket.requester_id, True
    else:
        ticket_id, requester_id = await _open_ticket(
            session, keys, outbox, message, at, message_id, provider_ref, contacts
        )
        joined = False
    if message.attachments:
        data_key = requester_key(keys, await repository.get_requester(session, requester_id))
        for attachment in message.attachments:
            attachment_id = uuid.uuid4()
            media = {
                "id": attachment.media_id,
                "filename": attachment.filename,
                "sha256": attachment.sha256,
            }
            repository.add(
                session,
                Attachment(
                    id=attachment_id,
                    message_id=message_id,
                    ticket_id=ticket_id,
                    channel=channel,
                    kind=attachment.kind,
                    mime_type=attachment.mime_type,
                    media_enc=encrypt_field(
                        data_key,
                        json.dumps(media),
                        aad=domain.field_aad("attachments", "media", str(attachment_id)),
                    ),
                    created_at=at,
                ),
            )
    log.info(
        "channel.message_stored",
        extra={"channel": channel, "ticket_id": str(ticket_id), "joined": joined},
    )


async def _open_ticket(
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    message: Inbound,
    at: datetime,
    message_id: uuid.UUID,
    provider_ref: str,
    contacts: Sequence[str],
) -> tuple[uuid.UUID, uuid.UUID]:
    channel = message.channel.value
    # A person whose last case was closed keeps their requester record (and its vetting).
    existing = await repository.latest_requester_by_contact(session, channel, contacts)
    data = TicketCreate(
        text=message.text,
        channel=message.channel,
        requester_name=message.name if existing is None else None,
        contact=Contact(channel=ContactChannel(channel), handle=message.sender),
    )
    reference = domain.new_reference()
    while await repository.reference_taken(session, reference):
        reference = domain.new_reference()
    ticket_id = uuid.uuid4()
    rows = ticket_rows(
        data,
        keys,
        outbox,
        ticket_id,
        reference,
        # Nobody sees this token: a channel's requester follows up on the channel itself.
        domain.new_follow_up_token(),
        at,
        existing=existing,
        message_id=message_id,
        provider_ref=provider_ref,
    )
    await repository.insert_rows(session, rows)
    ticket = await repository.get_ticket(session, ticket_id)
    assert ticket is not None
    return ticket_id, ticket.requester_id
