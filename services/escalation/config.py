"""Escalation settings: ESCALATION_* from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.escalation.platforms import DEFAULT_PATH
from shared.settings import BaseServiceSettings


class EscalationSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATION_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "escalation"
    default_port: ClassVar[int] = 8103

    # The platform registry (a JSON file); validated at start.
    platforms_file: Path = DEFAULT_PATH
    # How often the in-service job looks for platforms silent past their time (0: off).
    reminder_check_seconds: float = Field(default=60.0, ge=0)
