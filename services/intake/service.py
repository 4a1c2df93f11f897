"""Intake's use cases. Writes go through the group committer with their outbox rows."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, duplicates, repository
from services.intake.errors import AttachmentNotFound, RequesterNotFound, TicketNotFound
from services.intake.keys import IntakeKeys
from services.intake.models import (
    AUDIT_TABLES,
    Attachment,
    AttachmentPublic,
    ConsentChange,
    ContactChannel,
    ContactPublic,
    ErasureReceipt,
    Message,
    MessagePublic,
    Requester,
    RequesterPublic,
    Ticket,
    TicketAccepted,
    TicketCreate,
    TicketPublic,
    TriageSummary,
)
from shared import audit
from shared.audit import ObjectType
from shared.auth import Principal
from shared.contracts import (
    Author,
    ConsentChanged,
    ConsentChangedData,
    ConsentPurpose,
    RequesterErased,
    RequesterErasedData,
    RequesterRole,
    TicketAssigned,
    TicketReceived,
    TicketReceivedData,
    TicketReprioritised,
    TicketStatus,
    TicketTriaged,
)
from shared.crypto import DataKey, decrypt_field, encrypt_field, new_data_key, unwrap_data_key
from shared.db import SessionMaker, table_of, transaction
from shared.groupcommit import GroupCommitter, RowSet
from shared.messaging.outbox import add_to_outbox, outbox_rows

_REFERENCE_TRIES = 5


def sealed_text_aad(ticket_id: uuid.UUID) -> bytes:
    """What binds the sealed text on the bus to its ticket."""
    return f"sanad:ticket.received:{ticket_id}".encode()


def message_text_aad(message_id: uuid.UUID) -> bytes:
    """What binds a later message's sealed text (`ticket.message_added`) to it (triage matches)."""
    return f"sanad:ticket.message_added:{message_id}".encode()


def provider_id_aad(message_id: uuid.UUID) -> bytes:
    """What binds a message's encrypted channel id (an email's Message-ID) to the message."""
    return domain.field_aad("messages", "provider_id", str(message_id))


def requester_key(keys: IntakeKeys, requester: Requester | None) -> DataKey:
    """The data key of a requester who has not been erased; TicketNotFound otherwise."""
    if requester is None or requester.wrapped_key is None:
        raise TicketNotFound("The requester of this ticket has been erased.")
    return unwrap_data_key(keys.masters, requester.wrapped_key, aad=str(requester.id).encode())


async def submit_ticket(
    *,
    data: TicketCreate,
    keys: IntakeKeys,
    committer: GroupCommitter,
    outbox: Table,
    recent: duplicates.RecentSubmissions | None = None,
    sessions: SessionMaker | None = None,
    writer_sessions: SessionMaker | None = None,
    client: str | None = None,
    now: datetime | None = None,
) -> TicketAccepted:
    """Store a new ticket encrypted, with its `ticket.received` event; durable on return.

    With `recent` and the session makers, the same text from the same sender (the contact,
    else `client` when given) within ten minutes answers with the ticket already opened,
    `duplicate` and no token (services.intake.duplicates).
    """
    received_at = now or (recent.now() if recent is not None else datetime.now(UTC))
    if recent is None or not recent.enabled or sessions is None or writer_sessions is None:
        return await _write_ticket(data, keys, committer, outbox, received_at, None)
    fingerprint = duplicates.fingerprint(keys, data, client)
    if fingerprint is None:
        return await _write_ticket(data, keys, committer, outbox, received_at, None)
    for attempt in range(_REFERENCE_TRIES):
        try:
            accepted = await _write_ticket(
                data, keys, committer, outbox, received_at, fingerprint, tries=1
            )
        except IntegrityError:
            # A reference taken, or this fingerprint already there: only then look.
            async with sessions() as session:
                found = await duplicates.find(session, fingerprint)
            if found is not None and found[1] > received_at - recent.window:
                ticket, first_at = found
                return TicketAccepted(
                    id=ticket.id,
                    reference=ticket.reference,
                    received_at=first_at,
                    follow_up_token=None,
                    duplicate=True,
                )
            if found is not None:
                async with transaction(writer_sessions) as session:
                    await duplicates.forget_stale(session, fingerprint, received_at, recent.window)
            if attempt == _REFERENCE_TRIES - 1:
                raise
            continue
        await recent.purge_if_due(writer_sessions, received_at)
        return accepted
    raise AssertionError("unreachable")


async def _write_ticket(
    data: TicketCreate,
    keys: IntakeKeys,
    committer: GroupCommitter,
    outbox: Table,
    received_at: datetime,
    fingerprint: str | None,
    *,
    tries: int = _REFERENCE_TRIES,
) -> TicketAccepted:
    token = domain.new_follow_up_token()
    for attempt in range(tries):
        ticket_id, reference = uuid.uuid4(), domain.new_reference()
        rows = ticket_rows(data, keys, outbox, ticket_id, reference, token, received_at)
        if fingerprint is not None:
            rows.add(
                duplicates.RECENT_TABLE, duplicates.recent_row(fingerprint, ticket_id, received_at)
            )
        try:
            await committer.write(rows)
        except IntegrityError:
            # Almost always a reference that is taken: draw another.
            if attempt == tries - 1:
                raise
            continue
        return TicketAccepted(
            id=ticket_id, reference=reference, received_at=received_at, follow_up_token=token
        )
    raise AssertionError("unreachable")


def ticket_rows(
    data: TicketCreate,
    keys: IntakeKeys,
    outbox: Table,
    ticket_id: uuid.UUID,
    reference: str,
    token: str,
    received_at: datetime,
    *,
    existing: Requester | None = None,
    message_id: uuid.UUID | None = None,
    provider_ref: str | None = None,
    provider_id: str | None = None,
) -> RowSet:
    """The rows of a new ticket, for a new requester or for `existing` (a known contact).

    `provider_id` is the channel's id of the message when a reply must refer to it (an
    email's Message-ID): stored encrypted, with its keyed hash as `provider_ref`.
    """
    message_id = message_id or uuid.uuid4()
    rows = RowSet(writes_outbox=True)
    if existing is not None:
        requester_id, data_key = existing.id, requester_key(keys, existing)
        role, country = RequesterRole(existing.role), existing.country
    else:
        requester_id, data_key, requester = _requester_row(data, keys, received_at)
        role, country = data.requester_role, requester["country"]
        rows.add(table_of(Requester), requester)
    ticket = {
        "id": ticket_id,
        "reference": reference,
        "requester_id": requester_id,
        "channel": data.channel.value,
        "declared_language": data.language,
        "status": TicketStatus.new.value,
        "follow_up_hash": domain.hash_token(token),
        "received_at": received_at,
        "category": None,
        "priority": None,
        "triaged_at": None,
        "requested_help": ",".join(c.value for c in data.requested_help) or None,
        "outcome": None,
        "closed_at": None,
        "updated_at": received_at,
    }
    message = {
        "id": message_id,
        "ticket_id": ticket_id,
        "author": Author.requester.value,
        "internal": False,
        "body_enc": encrypt_field(
            data_key, data.text, aad=domain.field_aad("messages", "body", str(message_id))
        ),
        "created_at": received_at,
        "provider_ref": provider_ref,
        "provider_id_enc": (
            encrypt_field(data_key, provider_id, aad=provider_id_aad(message_id))
            if provider_id
            else None
        ),
    }
    event = TicketReceived(
        ticket_id=ticket_id,
        occurred_at=received_at,
        data=TicketReceivedData(
            reference=reference,
            requester_id=requester_id,
            channel=data.channel,
            requester_role=role,
            declared_language=data.language,
            country=country,
            received_at=received_at,
            sealed_text=keys.triage_sealer.seal(data.text, aad=sealed_text_aad(ticket_id)),
        ),
    )
    rows.add(table_of(Ticket), ticket)
    rows.add(table_of(Message), message)
    events: list[TicketReceived | ConsentChanged] = [event]
    if data.consent is not None:
        granted = set(data.consent.granted)
        consents = {p: p in granted for p in ConsentPurpose}
        rows.add(
            table_of(ConsentChange),
            consent_row(
                requester_id,
                consents,
                wording_version=data.consent.wording_version,
                source=data.channel.value,
                actor_id="requester",
                changed_at=received_at,
            ),
        )
        events.append(
            ConsentChanged(
                ticket_id=ticket_id,
                occurred_at=received_at,
                data=ConsentChangedData(
                    requester_id=requester_id,
                    consents=consents,
                    wording_version=data.consent.wording_version,
                    source=data.channel.value,
                    changed_at=received_at,
                ),
            )
        )
    rows.add(outbox, *outbox_rows(events))
    return rows


def _requester_row(
    data: TicketCreate, keys: IntakeKeys, received_at: datetime
) -> tuple[uuid.UUID, DataKey, dict[str, Any]]:
    requester_id = uuid.uuid4()
    rid = str(requester_id)
    data_key, wrapped = new_data_key(keys.master, aad=rid.encode())
    contact = data.contact
    index = keys.contact_index(contact.channel.value, contact.handle) if contact else None
    requester: dict[str, Any] = {
        "id": requester_id,
        "wrapped_key": wrapped,
        "name_enc": (
            encrypt_field(
                data_key, data.requester_name, aad=domain.field_aad("requesters", "name", rid)
            )
            if data.requester_name
            else None
        ),
        "contact_channel": contact.channel.value if contact else None,
        "contact_handle_enc": (
            encrypt_field(
                data_key, contact.handle, aad=domain.field_aad("requesters", "contact_handle", rid)
            )
            if contact
            else None
        ),
        "contact_index": index[0] if index else None,
        "contact_index_key": index[1] if index else None,
        "contact_times_enc": (
            encrypt_field(
                data_key,
                contact.safe_times,
                aad=domain.field_aad("requesters", "contact_times", rid),
            )
            if contact and contact.safe_times
            else None
        ),
        "avoid_channels": ",".join(sorted({c.value for c in contact.avoid}))
        if contact and contact.avoid
        else None,
        "role": data.requester_role.value,
        "country": data.country.upper() if data.country else None,
        "created_at": received_at,
        "vetting_state": "unvetted",
    }
    return requester_id, data_key, requester


def consent_row(
    requester_id: uuid.UUID,
    consents: dict[ConsentPurpose, bool],
    *,
    wording_version: str,
    source: str,
    actor_id: str,
    changed_at: datetime,
) -> dict[str, object]:
    """A consent_changes row holding the whole record after a change."""
    return {
        "requester_id": requester_id,
        **{purpose.value: consents.get(purpose, False) for purpose in ConsentPurpose},
        "wording_version": wording_version,
        "source": source,
        "actor_id": actor_id,
        "changed_at": changed_at,
    }


async def read_ticket(
    *, session: AsyncSession, keys: IntakeKeys, ticket_id: uuid.UUID, actor: Principal
) -> TicketPublic:
    """A ticket with its requester and messages decrypted, for a handler; audited."""
    ticket = await repository.get_ticket(session, ticket_id)
    if ticket is None:
        raise TicketNotFound()
    requester = await repository.get_requester(session, ticket.requester_id)
    if requester is None or requester.wrapped_key is None:
        raise TicketNotFound("The requester of this ticket has been erased.")
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=audit.Action.read,
        objects=[(ObjectType.ticket, str(ticket.id)), (ObjectType.requester, str(requester.id))],
    )
    rid = str(requester.id)
    data_key = requester_key(keys, requester)
    messages = await repository.list_messages(session, ticket.id)
    deliveries = await repository.deliveries_of(session, ticket.id)
    attachments = await repository.attachments_of(session, ticket.id)
    name = (
        decrypt_field(data_key, requester.name_enc, aad=domain.field_aad("requesters", "name", rid))
        if requester.name_enc
        else None
    )
    contact = None
    if requester.contact_handle_enc and requester.contact_channel:
        contact = ContactPublic(
            channel=requester.contact_channel,
            handle=decrypt_field(
                data_key,
                requester.contact_handle_enc,
                aad=domain.field_aad("requesters", "contact_handle", rid),
            ),
            safe_times=(
                decrypt_field(
                    data_key,
                    requester.contact_times_enc,
                    aad=domain.field_aad("requesters", "contact_times", rid),
                )
                if requester.contact_times_enc
                else None
            ),
            avoid=[ContactChannel(c) for c in (requester.avoid_channels or "").split(",") if c],
        )
    triage = None
    if ticket.category and ticket.priority and ticket.triaged_at:
        triage = TriageSummary(
            category=ticket.category,
            priority=ticket.priority,
            triaged_at=ticket.triaged_at,
        )
    return TicketPublic(
        id=ticket.id,
        reference=ticket.reference,
        status=ticket.status,
        channel=ticket.channel,
        declared_language=ticket.declared_language,
        received_at=ticket.received_at,
        requester=RequesterPublic(
            id=requester.id,
            name=name,
            contact=contact,
            role=requester.role,
            country=requester.country,
            vetting_state=requester.vetting_state,
        ),
        messages=[
            MessagePublic(
                id=m.id,
                author=m.author,
                text=decrypt_field(
                    data_key, m.body_enc, aad=domain.field_aad("messages", "body", str(m.id))
                ),
                created_at=m.created_at,
                internal=m.internal,
                delivery=deliveries[m.id].state if m.id in deliveries else None,
                delivery_error=deliveries[m.id].last_error if m.id in deliveries else None,
                delivery_attempts=deliveries[m.id].attempts if m.id in deliveries else None,
                attachments=[_attachment(data_key, a) for a in attachments.get(m.id, ())],
            )
            for m in messages
        ],
        triage=triage,
        requested_help=[c for c in (ticket.requested_help or "").split(",") if c],
        outcome=ticket.outcome,
        closed_at=ticket.closed_at,
        assigned_handler_id=ticket.assigned_handler_id,
    )


def _attachment(data_key: DataKey, attachment: Attachment) -> AttachmentPublic:
    media = json.loads(
        decrypt_field(
            data_key,
            attachment.media_enc,
            aad=domain.field_aad("attachments", "media", str(attachment.id)),
        )
    )
    return AttachmentPublic(
        id=attachment.id,
        channel=attachment.channel,
        kind=attachment.kind,
        mime_type=attachment.mime_type,
        media_id=media["id"],
        filename=media.get("filename"),
        sha256=media.get("sha256"),
        size=attachment.size,
        stored=attachment.content_enc is not None or attachment.duplicate_of is not None,
        duplicate_of=attachment.duplicate_of,
    )


async def read_attachment(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    ticket_id: uuid.UUID,
    attachment_id: uuid.UUID,
    actor: Principal,
) -> tuple[AttachmentPublic, bytes]:
    """A file kept as evidence (email attachments), decrypted for a handler; audited."""
    attachment = await repository.get_attachment(session, ticket_id, attachment_id)
    held = attachment
    if attachment is not None and attachment.duplicate_of is not None:
        # The same file sent again: its content is kept once, on the first attachment.
        held = await repository.get_attachment(session, ticket_id, attachment.duplicate_of)
    if attachment is None or held is None or held.content_enc is None:
        raise AttachmentNotFound()
    ticket = await repository.get_ticket(session, ticket_id)
    assert ticket is not None
    data_key = requester_key(keys, await repository.get_requester(session, ticket.requester_id))
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=audit.Action.read,
        objects=[(ObjectType.ticket, str(ticket.id))],
    )
    encoded = decrypt_field(data_key, held.content_enc, aad=attachment_content_aad(held.id))
    return _attachment(data_key, attachment), base64.b64decode(encoded)


def attachment_content_aad(attachment_id: uuid.UUID) -> bytes:
    """What binds a stored file to its attachment row."""
    return domain.field_aad("attachments", "content", str(attachment_id))


async def apply_triage(*, session: AsyncSession, event: TicketTriaged) -> None:
    """Show triage's result on the ticket."""
    if event.ticket_id is None:
        return
    await repository.set_triage(
        session,
        event.ticket_id,
        category=event.data.category.value,
        priority=event.data.priority.value,
        triaged_at=event.data.triaged_at,
    )


async def apply_reprioritised(*, session: AsyncSession, event: TicketReprioritised) -> None:
    """Show a handler's override, or a raised re-triage, on the ticket."""
    if event.ticket_id is None:
        return
    await repository.set_priority(
        session,
        event.ticket_id,
        category=event.data.category.value,
        priority=event.data.priority.value,
    )


async def apply_assignment(*, session: AsyncSession, event: TicketAssigned) -> None:
    """Show who triage assigned the ticket to (filterable in the handler's list)."""
    if event.ticket_id is None:
        return
    await repository.set_assignment(
        session,
        event.ticket_id,
        handler_id=event.data.handler_id,
        assigned_at=event.data.assigned_at,
    )


async def erase_requester(
    *,
    session: AsyncSession,
    outbox: Table,
    requester_id: uuid.UUID,
    actor: Principal,
    now: datetime | None = None,
) -> ErasureReceipt:
    """Crypto-shred a requester: destroy their data key, publish `requester.erased`; audited."""
    requester = await repository.get_requester(session, requester_id)
    if requester is None or requester.wrapped_key is None:
        raise RequesterNotFound("No such requester, or already erased.")
    erased_at = now or datetime.now(UTC)
    ticket_ids = await repository.ticket_ids_of(session, requester_id)
    await repository.shred_requester(session, requester_id, ticket_ids)
    event = RequesterErased(
        occurred_at=erased_at,
        data=RequesterErasedData(
            requester_id=requester_id, ticket_ids=tuple(ticket_ids), erased_at=erased_at
        ),
    )
    await add_to_outbox(session, outbox, event)
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=audit.Action.erase,
        objects=[
            (ObjectType.requester, str(requester_id)),
            *((ObjectType.ticket, str(t)) for t in ticket_ids),
        ],
        now=erased_at,
    )
    return ErasureReceipt(requester_id=requester_id, ticket_ids=ticket_ids, erased_at=erased_at)
