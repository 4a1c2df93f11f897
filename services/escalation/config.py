"""Escalation settings: ESCALATION_* from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr
from pydantic_settings import SettingsConfigDict

from services.escalation.platforms import DEFAULT_PATH
from shared.notify import NotifyHookSettings
from shared.settings import BaseServiceSettings


class EscalationSettings(NotifyHookSettings, BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "escalation"
    default_port: ClassVar[int] = 8103

    # The platform registry (a JSON file); validated at start.
    platforms_file: Path = DEFAULT_PATH
    # How often the in-service job looks for platforms silent past their time (0: off).
    reminder_check_seconds: float = Field(default=60.0, ge=0)
    # The notification hook (ESCALATION_NOTIFY_*, shared.notify.NotifyHookSettings): each
    # reminder is also POSTed there, ids only.

    # This helpline as its partners know it: IncidentID.name of the referrals it
    # signs, and the partner id they registered it under (they must be equal).
    helpline_id: str = Field(default="sanad-dev", pattern=r"^[a-z][a-z0-9-]{1,63}$")
    helpline_name: str = Field(default="Sanad (development)", min_length=1, max_length=200)
    # Base64 of the 32-byte Ed25519 private key referrals are signed with; in
    # development generated once under var/keys/.
    signing_key: SecretStr | None = None
    # Intake's X25519 public key (base64): inbound referral details are sealed for it.
    intake_content_public_key: SecretStr | None = None
    # The delivery job (referrals and status updates to partners): woken by each new
    # delivery, its passes at least this far apart (0: off); how it backs off while a
    # partner does not acknowledge.
    delivery_check_seconds: float = Field(default=2.0, ge=0)
    # With nothing due, the job still looks this often (deliveries made elsewhere).
    delivery_idle_seconds: float = Field(default=60.0, gt=0)
    delivery_max_attempts: int = Field(default=12, ge=1, le=100)
    delivery_backoff_seconds: float = Field(default=30.0, gt=0)
    delivery_backoff_cap_seconds: float = Field(default=3600.0, gt=0)
    delivery_timeout_seconds: float = Field(default=10.0, gt=0)
    # Replay window: a signed referral or status update older than this, or dated
    # further ahead than the allowed clock skew, is refused.
    referral_max_age_seconds: int = Field(default=300, ge=10, le=86_400)
    referral_clock_skew_seconds: int = Field(default=60, ge=0, le=3600)
