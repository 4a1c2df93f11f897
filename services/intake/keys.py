"""The keys intake holds: the master key (wraps data keys) and triage's sealing key."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.config import IntakeSettings
from shared.crypto import (
    CryptoError,
    MasterKey,
    RecipientPublicKey,
    Sealer,
    keyring,
    load_master_key,
    load_or_create_recipient_keys,
)

TRIAGE_CONTENT_KEY = "triage-content"


@dataclass(frozen=True)
class IntakeKeys:
    master: MasterKey
    masters: dict[str, MasterKey]
    triage_sealer: Sealer


def load_keys(settings: IntakeSettings) -> IntakeKeys:
    """From settings, or in development from files generated once under var/keys/."""
    master = load_master_key(settings)
    if settings.triage_content_public_key is not None:
        public = RecipientPublicKey.from_base64(
            settings.triage_content_public_key.get_secret_value()
        )
    elif settings.require_keys:
        raise CryptoError("INTAKE_TRIAGE_CONTENT_PUBLIC_KEY is required")
    else:
        public = load_or_create_recipient_keys(settings.keys_dir, TRIAGE_CONTENT_KEY).public_key
    return IntakeKeys(master=master, masters=keyring(master), triage_sealer=Sealer(public))
