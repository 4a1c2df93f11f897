"""The keys intake holds: the master key (wraps data keys) and triage's sealing key."""

from __future__ import annotations

from dataclasses import dataclass

from services.intake.config import IntakeSettings
from shared.crypto import (
    CryptoError,
    MasterKey,
    MasterKeyring,
    RecipientPublicKey,
    Sealer,
    load_master_keyring,
    load_or_create_recipient_keys,
)

TRIAGE_CONTENT_KEY = "triage-content"


@dataclass(frozen=True)
class IntakeKeys:
    # Follows a rotation (`sanad keys rotate`) while the service runs.
    masters: MasterKeyring
    triage_sealer: Sealer

    @property
    def master(self) -> MasterKey:
        """The master key new data keys are wrapped under."""
        return self.masters.current


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
