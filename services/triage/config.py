"""Triage settings: TRIAGE_* from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.notify import NotifyHookSettings
from shared.settings import BaseServiceSettings


class TriageSettings(NotifyHookSettings, BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "triage"
    default_port: ClassVar[int] = 8102

    # Base64 X25519 private key that opens text sealed by intake; in development
    # generated once as var/keys/triage-content.key.
    content_private_key: SecretStr | None = None
    # How often the in-service job looks for SLA levels falling due (0 turns it off).
    sla_check_seconds: float = Field(default=30.0, ge=0)
    # Paging the on-shift lead about a P1: the optional webhook (TRIAGE_NOTIFY_*,
    # shared.notify.NotifyHookSettings) gets ids only (ticket, priority, lead, reason, time).
