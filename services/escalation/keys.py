"""Escalation's keys: per-ticket data keys and partner-token keys, wrapped under the master key.

Content references of escalations and the free text of referrals are encrypted
under their ticket's own random data key, stored only wrapped under the current
master key and bound to the ticket id; erasing the requester deletes it (the
text is then unreadable, in backups too once the master key is rotated). The
bearer token a partner issued us is encrypted under a data key of its own.
`sanad keys rotate` re-wraps both (ESCALATION_WRAPPED_KEYS).

Escalations sealed before per-ticket keys existed carry the master key id
instead of TICKET_KEY: they are read with a key derived from that master
(ContentKey.for_master) while it is in the keyring.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import repository
from services.escalation.models import Partner, TicketKey
from shared.crypto import (
    CryptoError,
    DataKey,
    MasterKey,
    decrypt_field,
    derive_key,
    encrypt_field,
    keyring,
    new_data_key,
    unwrap_data_key,
)
from shared.keyrotation import ESCALATION_KEYS

CONTENT_PURPOSE = b"sanad.escalation.content-references.v1"
# Marks what is sealed under the ticket's wrapped data key (not a master key id).
TICKET_KEY = "ticket"
# Where `sanad keys rotate` looks for escalation's wrapped keys (declared with the other
# services' in shared.keyrotation); each is bound to its row's id.
ESCALATION_WRAPPED_KEYS = ESCALATION_KEYS.wrapped
TICKET_WRAPPED_KEYS, PARTNER_TOKEN_WRAPPED_KEYS = ESCALATION_WRAPPED_KEYS


def _aad(escalation_id: uuid.UUID) -> bytes:
    return f"sanad:escalation:content:{escalation_id}".encode()


def seal_content(key: DataKey, escalation_id: uuid.UUID, text: str) -> bytes:
    """Content references (JSON text) encrypted and bound to their escalation."""
    return encrypt_field(key, text, aad=_aad(escalation_id))


def open_content(key: DataKey, escalation_id: uuid.UUID, blob: bytes) -> str:
    """The JSON text sealed by `seal_content` for this escalation."""
    return decrypt_field(key, blob, aad=_aad(escalation_id))


def _referral_aad(referral_id: uuid.UUID) -> bytes:
    return f"sanad:escalation:referral:{referral_id}".encode()


def seal_referral(key: DataKey, referral_id: uuid.UUID, text: str) -> bytes:
    """A referral's free text (JSON) encrypted and bound to the referral."""
    return encrypt_field(key, text, aad=_referral_aad(referral_id))


def open_referral(key: DataKey, referral_id: uuid.UUID, blob: bytes) -> str:
    """The JSON text sealed by `seal_referral` for this referral."""
    return decrypt_field(key, blob, aad=_referral_aad(referral_id))


class ContentKey:
    """The master keyring, as escalation uses it: wrapping new keys, unwrapping old ones.

    New keys are wrapped under the current master; keys wrapped under a retired
    master stay readable while it is in the keyring (during a rotation).
    """

    __slots__ = ("_derived", "_masters")

    def __init__(self, masters: Mapping[str, MasterKey] | MasterKey) -> None:
        self._masters: Mapping[str, MasterKey] = (
            keyring(masters) if isinstance(masters, MasterKey) else masters
        )
        self._derived: dict[str, DataKey] = {}

    @property
    def masters(self) -> Mapping[str, MasterKey]:
        return self._masters

    @property
    def current(self) -> MasterKey:
        current = getattr(self._masters, "current", None)
        if isinstance(current, MasterKey):
            return current
        return next(iter(self._masters.values()))

    @property
    def master_id(self) -> str:
        return self.current.key_id

    @property
    def key(self) -> DataKey:
        return self.for_master(self.master_id)

    def for_master(self, master_id: str) -> DataKey:
        """The (legacy) derived key under master `master_id`; KeyError once it is gone."""
        derived = self._derived.get(master_id)
        if derived is None:
            derived = derive_key(self._masters[master_id], CONTENT_PURPOSE)
            self._derived[master_id] = derived
        return derived


def _ticket_aad(ticket_id: uuid.UUID) -> bytes:
    # What shared.keyrotation.rewrap binds a wrapped key to: the row id as text.
    return str(ticket_id).encode()


async def ticket_key(
    session: AsyncSession, key: ContentKey, ticket_id: uuid.UUID, *, create: bool
) -> DataKey | None:
    """The ticket's data key; made on first use when `create`; None once erased."""
    row = await repository.get_ticket_key(session, ticket_id)
    if row is not None:
        if row.wrapped_key is None:
            return None
        return unwrap_data_key(key.masters, row.wrapped_key, aad=_ticket_aad(ticket_id))
    if not create:
        return None
    data_key, wrapped = new_data_key(key.current, aad=_ticket_aad(ticket_id))
    repository.add(session, TicketKey(ticket_id=ticket_id, wrapped_key=wrapped))
    return data_key


async def shred_ticket_key(session: AsyncSession, ticket_id: uuid.UUID) -> None:
    """Destroy the ticket's key (kept as an empty row: nothing new is sealed for it)."""
    row = await repository.get_ticket_key(session, ticket_id)
    if row is None:
        repository.add(session, TicketKey(ticket_id=ticket_id, wrapped_key=None))
    else:
        row.wrapped_key = None


def _token_aad(partner_id: str) -> bytes:
    return f"sanad:escalation:partner-token:{partner_id}".encode()


def seal_token(key: ContentKey, row: Partner, token: str) -> None:
    """Encrypt `token` for `row` under a new data key of its own, wrapped under the master."""
    key_id = uuid.uuid4()
    data_key, wrapped = new_data_key(key.current, aad=str(key_id).encode())
    row.token_key_id, row.token_wrapped_key = key_id, wrapped
    row.token_sealed = encrypt_field(data_key, token, aad=_token_aad(row.id))


def open_token(key: ContentKey, row: Partner) -> str | None:
    """The token sealed for `row`; None if none is held or its master key is gone."""
    if row.token_sealed is None or row.token_wrapped_key is None or row.token_key_id is None:
        return None
    try:
        data_key = unwrap_data_key(
            key.masters, row.token_wrapped_key, aad=str(row.token_key_id).encode()
        )
        return decrypt_field(data_key, row.token_sealed, aad=_token_aad(row.id))
    except CryptoError:
        return None


async def sealing_key(
    session: AsyncSession, key: ContentKey, ticket_id: uuid.UUID, marker: str
) -> DataKey | None:
    """The key a row of `ticket_id` was sealed under (its `marker`); None once erased.

    KeyError when it was sealed under a derived key whose master has been retired.
    """
    if marker == TICKET_KEY:
        return await ticket_key(session, key, ticket_id, create=False)
    return key.for_master(marker)
