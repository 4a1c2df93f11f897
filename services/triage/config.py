"""Triage settings: TRIAGE_* from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import AnyHttpUrl, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class TriageSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "triage"
    default_port: ClassVar[int] = 8102

    # Base64 X25519 private key that opens text sealed by intake; in development
    # generated once as var/keys/triage-content.key.
    content_private_key: SecretStr | None = None
    # How often the in-service job looks for SLA levels falling due (0 turns it off).
    sla_check_seconds: float = Field(default=30.0, ge=0)
    # Paging the on-shift lead about a P1: an optional webhook POSTed ids only (ticket,
    # priority, lead, reason, time), signed with HMAC-SHA256 when a secret is set.
    notify_webhook_url: AnyHttpUrl | None = None
    notify_webhook_secret: SecretStr | None = None
    # The delivery job: passes at least this far apart, woken by each new page (0: off).
    notify_check_seconds: float = Field(default=2.0, ge=0)
    notify_idle_seconds: float = Field(default=60.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_seconds: float = Field(default=5.0, gt=0)
    notify_backoff_cap_seconds: float = Field(default=300.0, gt=0)
    notify_timeout_seconds: float = Field(default=5.0, gt=0)
    # A page older than this is not worth sending any more (the SLA alerts take over).
    notify_max_age_seconds: float = Field(default=6 * 3600.0, gt=0)
