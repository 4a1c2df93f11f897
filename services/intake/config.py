"""Intake settings: INTAKE_* from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class IntakeSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "intake"
    default_port: ClassVar[int] = 8101

    # Base64 X25519 public key of triage, for sealing message text on the bus.
    # In development both services read var/keys/triage-content.pub.
    triage_content_public_key: SecretStr | None = None

    # Follow-up page: attempts per reference and per client address (token guessing).
    follow_up_per_reference_per_minute: float = 2.0
    follow_up_per_address_per_minute: float = 10.0
    follow_up_burst: int = 10

    # Channel webhooks: each is enabled only when its secrets are set (404 otherwise).
    # WhatsApp Business Cloud API: the token of the GET handshake and the app secret
    # that signs every POST (X-Hub-Signature-256).
    whatsapp_verify_token: SecretStr | None = None
    whatsapp_app_secret: SecretStr | None = None
    # The bearer secret the signal-cli bridge sends with each delivery (not a Sanad token).
    signal_webhook_token: SecretStr | None = None

    # Retention: requesters whose tickets have all been closed for longer than this are
    # erased (crypto-shredded) by an in-service job that runs every `retention_check_seconds`.
    # 0 in either turns the job off.
    retention_days: float = Field(default=365.0, ge=0)
    retention_check_seconds: float = Field(default=3600.0, ge=0)
