"""The keys intake holds: the master key (wraps data keys) and triage's sealing key."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from services.intake import domain
from services.intake.config import IntakeSettings
from shared.crypto import (
    CryptoError,
    DataKey,
    MasterKey,
    MasterKeyring,
    RecipientPublicKey,
    Sealer,
    derive_key,
    keyed_hash,
    load_master_keyring,
    load_or_create_recipient_keys,
)

TRIAGE_CONTENT_KEY = "triage-content"
CONTACT_INDEX_PURPOSE = b"sanad.intake.contact-index.v1"


def contact_index_key(master: MasterKey) -> DataKey:
    """The HMAC key of contact and delivery indexes, derived from `master` (nothing stored)."""
    return derive_key(master, CONTACT_INDEX_PURPOSE)


@dataclass(frozen=True)
class IntakeKeys:
    # Follows a rotation (`sanad keys rotate`) while the service runs.
    masters: MasterKeyring
    triage_sealer: Sealer

    @property
    def master(self) -> MasterKey:
        """The master key new data keys are wrapped under."""
        return self.masters.current

    def contact_index(self, channel: str, handle: str) -> tuple[str, str]:
        """The keyed hash a contact is stored under now, and the id of the master it used."""
        master = self.master
        index = _index(master, "contact", channel, domain.normalise_handle(channel, handle))
        return index, master.key_id

    def contact_indexes(self, channel: str, handle: str) -> list[str]:
        """The contact's index under every master held: a rotation does not break threading."""
        handle = domain.normalise_handle(channel, handle)
        return [_index(self.masters[k], "contact", channel, handle) for k in self.masters]

    def delivery_index(self, channel: str, provider_id: str) -> str:
        """A platform's message id, keyed: it can embed the sender's number (a wamid does)."""
        return _index(self.master, "delivery", channel, provider_id)

    def delivery_indexes(self, channel: str, provider_id: str) -> list[str]:
        """The delivery's index under every master held."""
        return [_index(self.masters[k], "delivery", channel, provider_id) for k in self.masters]

    def evidence_index(self, ticket_id: str, sha256: str) -> str:
        """A file's digest, keyed and bound to its ticket: the same file there is stored once."""
        return _index(self.master, "evidence", ticket_id, sha256)

    def evidence_indexes(self, ticket_id: str, sha256: str) -> list[str]:
        return [_index(self.masters[k], "evidence", ticket_id, sha256) for k in self.masters]

    def submission_fingerprint(self, sender: str, text: str) -> str:
        """Who sent which text, keyed (only compared within minutes, so the current master)."""
        return _index(self.master, "submission", sender, domain.normalise_text(text))


# One HKDF per master key, not per request (the form's hot path hashes every contact).
_cached_index_key = functools.lru_cache(maxsize=8)(contact_index_key)


def _index(master: MasterKey, kind: str, channel: str, value: str) -> str:
    return keyed_hash(_cached_index_key(master), f"{kind}\x00{channel}\x00{value}".encode())


def load_keys(settings: IntakeSettings) -> IntakeKeys:
    """From settings, or in development from files generated once under var/keys/."""
    masters = load_master_keyring(settings)
    if settings.triage_content_public_key is not None:
        public = RecipientPublicKey.from_base64(
            settings.triage_content_public_key.get_secret_value()
        )
    elif settings.require_keys:
        raise CryptoError("INTAKE_TRIAGE_CONTENT_PUBLIC_KEY is required")
    else:
        public = load_or_create_recipient_keys(settings.keys_dir, TRIAGE_CONTENT_KEY).public_key
    return IntakeKeys(masters=masters, triage_sealer=Sealer(public))
