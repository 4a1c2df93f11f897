"""Messages from WhatsApp, Signal and email: a new ticket, or the sender's ticket; once each."""

from __future__ import annotations

import base64
import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import BaseModel
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import channels, domain, duplicates, evidence, handling, repository
from services.intake.channels import Inbound
from services.intake.config import IntakeSettings
from services.intake.keys import IntakeKeys
from services.intake.mail import ParsedMail
from services.intake.models import (
    Attachment,
    Contact,
    ContactChannel,
    RecentSubmission,
    Ticket,
    TicketCreate,
)
from services.intake.service import attachment_content_aad, requester_key, ticket_rows
from shared.contracts import Channel
from shared.crypto import DataKey, encrypt_field

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
    now: datetime | None = None,
) -> WebhookReceipt:
    """A signed Cloud API delivery: each message stored unless it was delivered before."""
    channels.check_whatsapp_signature(settings.whatsapp_app_secret, body, signature)
    messages = channels.read_whatsapp(body)
    return await receive(
        session=session,
        keys=keys,
        outbox=outbox,
        messages=messages,
        now=now,
        window=timedelta(seconds=settings.duplicate_window_seconds),
    )


async def receive_signal(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    settings: IntakeSettings,
    outbox: Table,
    body: bytes,
    authorization: str | None,
    now: datetime | None = None,
) -> WebhookReceipt:
    """A signal-cli `receive` notification from the bridge holding our shared secret."""
    channels.check_bearer(settings.signal_webhook_token, authorization)
    messages = channels.read_signal(body)
    return await receive(
        session=session,
        keys=keys,
        outbox=outbox,
        messages=messages,
        now=now,
        window=timedelta(seconds=settings.duplicate_window_seconds),
    )


async def receive(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    messages: Sequence[Inbound],
    now: datetime | None = None,
    window: timedelta = timedelta(0),
) -> WebhookReceipt:
    """Store each message on its sender's open ticket or a new one; re-deliveries add nothing,
    by the platform's id or, within `window`, as the same text from the same sender as the
    message that opened a ticket (a retry under a new id)."""
    at = now or datetime.now(UTC)
    stored = 0
    for position, message in enumerate(messages):
        channel = message.channel.value
        if await repository.delivery_seen(
            session, keys.delivery_indexes(channel, message.provider_id)
        ):
            log.info("channel.redelivered", extra={"channel": channel})
            continue
        fingerprint = channel_fingerprint(keys, channel, message.sender, message.text)
        if window and await duplicates.find_recent(session, fingerprint, at, window):
            log.info("channel.duplicate_text", extra={"channel": channel})
            continue
        # Messages of one delivery keep their order on the ticket (listed by time, then id).
        at_position = at + timedelta(microseconds=position)
        await _store(
            session=session,
            keys=keys,
            outbox=outbox,
            message=message,
            at=at_position,
            fingerprint=fingerprint if window else None,
            window=window,
        )
        stored += 1
    return WebhookReceipt(received=len(messages), stored=stored)


def channel_fingerprint(keys: IntakeKeys, channel: str, sender: str, text: str) -> str:
    """As the form's (services.intake.duplicates.sender_of) for the same contact and text."""
    index, _ = keys.contact_index(channel, sender)
    return keys.submission_fingerprint(f"contact:{index}", text)


async def _store(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    message: Inbound,
    at: datetime,
    fingerprint: str | None,
    window: timedelta,
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
        await _remember(session, fingerprint, ticket_id, at, window)
        joined = False
    await store_attachments(
        session,
        keys,
        message,
        ticket_id=ticket_id,
        requester_id=requester_id,
        message_id=message_id,
        at=at,
    )
    log.info(
        "channel.message_stored",
        extra={"channel": channel, "ticket_id": str(ticket_id), "joined": joined},
    )


async def _remember(
    session: AsyncSession,
    fingerprint: str | None,
    ticket_id: uuid.UUID,
    at: datetime,
    window: timedelta,
) -> None:
    if fingerprint is not None:
        # The table holds minutes of new tickets: clearing what expired costs little.
        await duplicates.purge(session, at, window)
        repository.add(
            session, RecentSubmission(fingerprint=fingerprint, ticket_id=ticket_id, received_at=at)
        )


async def store_attachments(
    session: AsyncSession,
    keys: IntakeKeys,
    message: Inbound,
    *,
    ticket_id: uuid.UUID,
    requester_id: uuid.UUID,
    message_id: uuid.UUID,
    at: datetime,
) -> None:
    """The message's files as evidence: what the platform said of them, and (for email) the
    file itself, both encrypted with the requester's key."""
    if not message.attachments:
        return
    data_key = requester_key(keys, await repository.get_requester(session, requester_id))
    for position, attachment in enumerate(message.attachments):
        await store_evidence(
            session,
            keys,
            data_key,
            ticket_id=ticket_id,
            message_id=message_id,
            channel=message.channel.value,
            kind=attachment.kind,
            mime_type=attachment.mime_type,
            media_id=attachment.media_id,
            filename=attachment.filename,
            declared_sha256=attachment.sha256,
            content=attachment.content,
            # Files are listed by time: a mail's keep the order they came in.
            at=at + timedelta(microseconds=position),
        )


async def store_evidence(
    session: AsyncSession,
    keys: IntakeKeys,
    data_key: DataKey,
    *,
    ticket_id: uuid.UUID,
    message_id: uuid.UUID,
    channel: str,
    kind: str,
    mime_type: str | None,
    filename: str | None,
    content: bytes | None,
    at: datetime,
    media_id: str = "",
    declared_sha256: str | None = None,
) -> uuid.UUID:
    """One file as an attachment row, encrypted with the requester's key.

    When the file itself is here, its type is read from its first bytes (what the sender
    declared is ignored), its SHA-256 computed and kept, and a file the ticket already
    holds is not stored again: the new row points to the one that holds it.
    """
    attachment_id = uuid.uuid4()
    digest, duplicate_of, content_index = declared_sha256, None, None
    if content is not None:
        mime_type, kind = evidence.sniff(content)
        digest = evidence.sha256(content)
        indexes = keys.evidence_indexes(str(ticket_id), digest)
        duplicate_of = await repository.attachment_by_content_index(session, ticket_id, indexes)
        content_index = keys.evidence_index(str(ticket_id), digest)
    media = {
        "id": media_id or str(attachment_id),
        "filename": evidence.safe_filename(filename),
        "sha256": digest,
    }
    repository.add(
        session,
        Attachment(
            id=attachment_id,
            message_id=message_id,
            ticket_id=ticket_id,
            channel=channel,
            kind=kind,
            mime_type=mime_type,
            media_enc=encrypt_field(
                data_key,
                json.dumps(media),
                aad=domain.field_aad("attachments", "media", str(attachment_id)),
            ),
            # Field encryption takes text: the bytes go in as base64.
            content_enc=(
                encrypt_field(
                    data_key,
                    base64.b64encode(content).decode("ascii"),
                    aad=attachment_content_aad(attachment_id),
                )
                if content is not None and duplicate_of is None
                else None
            ),
            size=len(content) if content is not None else None,
            content_index=content_index if duplicate_of is None else None,
            duplicate_of=duplicate_of,
            created_at=at,
        ),
    )
    # The next file of the same message may be this one again.
    await session.flush()
    return attachment_id


async def _open_ticket(
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    message: Inbound,
    at: datetime,
    message_id: uuid.UUID,
    provider_ref: str,
    contacts: Sequence[str],
    keep_id: str | None = None,
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
        provider_id=keep_id,
    )
    await repository.insert_rows(session, rows)
    ticket = await repository.get_ticket(session, ticket_id)
    assert ticket is not None
    return ticket_id, ticket.requester_id


# --- email ------------------------------------------------------------------------


class NoSender(ValueError):
    """A mail with neither a From address nor an envelope sender: nobody to answer."""


@dataclass(frozen=True)
class EmailReceipt:
    """Where a mail went: a ticket (joined or new), or nowhere because it came before."""

    ticket_id: uuid.UUID | None
    joined: bool = False
    duplicate: bool = False


async def receive_email(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    outbox: Table,
    mail: ParsedMail,
    delivery_id: str,
    now: datetime | None = None,
    window: timedelta = timedelta(0),
) -> EmailReceipt:
    """A mail to the helpline, stored once per `delivery_id` (its Message-ID).

    It joins the ticket its subject names (`[SND-XXXXX]`) or whose mail it answers
    (In-Reply-To/References against the Message-IDs intake sent or received), but only when
    it comes from that ticket's requester (their address's keyed hash): whoever learns a
    reference cannot write into another person's case; their mail opens a ticket of its own.
    """
    at = now or datetime.now(UTC)
    channel = Channel.email.value
    if await repository.delivery_seen(session, keys.delivery_indexes(channel, delivery_id)):
        log.info("channel.redelivered", extra={"channel": channel})
        return EmailReceipt(ticket_id=None, duplicate=True)
    if mail.sender is None:
        raise NoSender()
    # The same text from the same address within `window`, under another Message-ID (sent
    # twice, or re-sent by a client): the ticket it opened, nothing stored again.
    fingerprint = channel_fingerprint(keys, channel, mail.sender, mail.ticket_text(joining=False))
    found = await duplicates.find_recent(session, fingerprint, at, window) if window else None
    if found is not None:
        log.info("email.duplicate_text", extra={"ticket_id": str(found[0].id)})
        return EmailReceipt(ticket_id=found[0].id, duplicate=True)
    contacts = keys.contact_indexes(channel, mail.sender)
    ticket = await _email_thread(session, keys, mail, contacts)
    message = Inbound(
        channel=Channel.email,
        sender=mail.sender,
        provider_id=delivery_id,
        text=mail.ticket_text(joining=ticket is not None),
        name=mail.name,
        attachments=tuple(
            channels.InboundAttachment(
                kind=a.kind,
                media_id="",
                mime_type=a.mime_type,
                filename=a.filename,
                sha256=a.sha256,
                content=a.content,
            )
            for a in mail.attachments
        ),
    )
    message_id = uuid.uuid4()
    provider_ref = keys.delivery_index(channel, delivery_id)
    if ticket is not None:
        await handling.add_requester_message(
            session=session,
            keys=keys,
            outbox=outbox,
            ticket=ticket,
            text=message.text,
            channel=Channel.email,
            now=at,
            message_id=message_id,
            provider_ref=provider_ref,
            provider_id=mail.message_id,
        )
        ticket_id, requester_id = ticket.id, ticket.requester_id
    else:
        ticket_id, requester_id = await _open_ticket(
            session,
            keys,
            outbox,
            message,
            at,
            message_id,
            provider_ref,
            contacts,
            keep_id=mail.message_id,
        )
        await _remember(session, fingerprint if window else None, ticket_id, at, window)
    await store_attachments(
        session,
        keys,
        message,
        ticket_id=ticket_id,
        requester_id=requester_id,
        message_id=message_id,
        at=at,
    )
    log.info(
        "email.stored",
        extra={
            "ticket_id": str(ticket_id),
            "joined": ticket is not None,
            "attachment_count": len(message.attachments),
        },
    )
    return EmailReceipt(ticket_id=ticket_id, joined=ticket is not None)


async def _email_thread(
    session: AsyncSession, keys: IntakeKeys, mail: ParsedMail, contacts: Sequence[str]
) -> Ticket | None:
    """The ticket this mail names or answers, if its requester is the sender."""
    candidates: list[uuid.UUID] = []
    for reference in mail.references[:5]:
        named = await repository.get_ticket_by_reference(session, reference)
        if named is not None:
            candidates.append(named.id)
    if mail.thread_ids:
        refs = [r for i in mail.thread_ids for r in keys.delivery_indexes(Channel.email.value, i)]
        candidates += await repository.tickets_by_provider_refs(session, refs)
    for ticket_id in dict.fromkeys(candidates):
        ticket = await repository.get_ticket_for_update(session, ticket_id)
        if ticket is None:
            continue
        requester = await repository.get_requester(session, ticket.requester_id)
        if (
            requester is not None
            and requester.wrapped_key is not None
            and requester.contact_channel == Channel.email.value
            and requester.contact_index in contacts
        ):
            return ticket
    if candidates:
        # Someone else's reference (or an erased requester's): a ticket of its own.
        log.info("email.thread_not_joined", extra={"count": len(candidates)})
    return None
