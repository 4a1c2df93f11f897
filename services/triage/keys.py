"""Per-ticket data keys for handlers' reasons: wrapped under the master key, shredded on erasure.

A handler's reason for an override or an assignment may quote the person. Each
ticket gets its own random data key, stored only wrapped under the current master
key (bound to the ticket id, as shared.keyrotation re-wraps it); erasing the
requester deletes the wrapped key, so every reason of their tickets becomes
unreadable, in backups too once the master key is rotated.
"""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import repository
from services.triage.models import TicketKey
from shared.crypto import (
    CryptoError,
    DataKey,
    MasterKeyring,
    decrypt_field,
    encrypt_field,
    new_data_key,
    unwrap_data_key,
)
from shared.keyrotation import TRIAGE_KEYS

# Where `sanad keys rotate` must look for triage's wrapped keys (with intake's).
(TRIAGE_WRAPPED_KEYS,) = TRIAGE_KEYS.wrapped


def _key_aad(ticket_id: uuid.UUID) -> bytes:
    # What shared.keyrotation.rewrap binds a wrapped key to: the row id as text.
    return str(ticket_id).encode()


def _reason_aad(ticket_id: uuid.UUID, kind: str) -> bytes:
    return f"sanad:triage:{kind}-reason:{ticket_id}".encode()


async def ticket_key(
    session: AsyncSession, masters: MasterKeyring, ticket_id: uuid.UUID, *, create: bool
) -> DataKey | None:
    """The ticket's data key; made on first use when `create`; None once erased."""
    row = await repository.get_ticket_key(session, ticket_id)
    if row is not None:
        if row.wrapped_key is None:
            return None
        return unwrap_data_key(masters, row.wrapped_key, aad=_key_aad(ticket_id))
    if not create:
        return None
    key, wrapped = new_data_key(masters.current, aad=_key_aad(ticket_id))
    repository.add(session, TicketKey(ticket_id=ticket_id, wrapped_key=wrapped))
    return key


async def seal_reason(
    session: AsyncSession,
    masters: MasterKeyring,
    ticket_id: uuid.UUID,
    kind: str,
    reason: str | None,
) -> bytes | None:
    """`reason` encrypted under the ticket's key; None when there is none or it was erased."""
    if reason is None:
        return None
    key = await ticket_key(session, masters, ticket_id, create=True)
    if key is None:
        # The requester was erased: nothing new about them is kept.
        return None
    return encrypt_field(key, reason, aad=_reason_aad(ticket_id, kind))


def open_reason(
    key: DataKey | None, ticket_id: uuid.UUID, kind: str, blob: bytes | None
) -> str | None:
    """The reason in `blob`, or None when there is none or its key is gone."""
    if key is None or blob is None:
        return None
    try:
        return decrypt_field(key, blob, aad=_reason_aad(ticket_id, kind))
    except CryptoError:
        return None
