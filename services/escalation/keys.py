"""Escalation's content key: derived from the master key, so no new secret is stored."""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shared.crypto import DataKey, MasterKey, decrypt_field, derive_key, encrypt_field, keyring

CONTENT_PURPOSE = b"sanad.escalation.content-references.v1"


def _aad(escalation_id: uuid.UUID) -> bytes:
    return f"sanad:escalation:content:{escalation_id}".encode()


def seal_content(key: DataKey, escalation_id: uuid.UUID, text: str) -> bytes:
    """Content references (JSON text) encrypted and bound to their escalation."""
    return encrypt_field(key, text, aad=_aad(escalation_id))


def open_content(key: DataKey, escalation_id: uuid.UUID, blob: bytes) -> str:
    """The JSON text sealed by `seal_content` for this escalation."""
    return decrypt_field(key, blob, aad=_aad(escalation_id))


class ContentKey:
    """Escalation's content key under each master key of the keyring.

    New content is sealed under the current master; content sealed under a retired
    master stays readable while that master is in the keyring (during a rotation).
    """

    __slots__ = ("_derived", "_masters")

    def __init__(self, masters: Mapping[str, MasterKey] | MasterKey) -> None:
        self._masters: Mapping[str, MasterKey] = (
            keyring(masters) if isinstance(masters, MasterKey) else masters
        )
        self._derived: dict[str, DataKey] = {}

    @property
    def master_id(self) -> str:
        current = getattr(self._masters, "current", None)
        if isinstance(current, MasterKey):
            return current.key_id
        return next(iter(self._masters))

    @property
    def key(self) -> DataKey:
        return self.for_master(self.master_id)

    def for_master(self, master_id: str) -> DataKey:
        """The derived key under master `master_id`; KeyError once that master is gone."""
        derived = self._derived.get(master_id)
        if derived is None:
            derived = derive_key(self._masters[master_id], CONTENT_PURPOSE)
            self._derived[master_id] = derived
        return derived
