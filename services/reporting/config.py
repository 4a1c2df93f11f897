"""Reporting settings: REPORTING_* from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic_settings import SettingsConfigDict

from shared.settings import BaseServiceSettings


class ReportingSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "reporting"
    default_port: ClassVar[int] = 8104
