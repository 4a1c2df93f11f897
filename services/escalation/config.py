"""Escalation settings: ESCALATION_* from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class EscalationSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "escalation"
    default_port: ClassVar[int] = 8103
