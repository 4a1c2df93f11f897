"""Reporting settings: REPORTING_* from the environment."""

from __future__ import annotations

from typing import ClassVar

from pydantic import model_validator
from pydantic_settings import SettingsConfigDict

from services.reporting.domain import MIN_THRESHOLD
from shared.settings import BaseServiceSettings


class ReportingSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="REPORTING_", extra="ignore", frozen=True)

    service_name: ClassVar[str] = "reporting"
    default_port: ClassVar[int] = 8104

    # Counts from 1 to threshold - 1 are never published. It can be raised, not lowered.
    small_cell_threshold: int = MIN_THRESHOLD
    # Lets a test use a threshold below 5; refused by nothing else, set by nothing else.
    testing_allow_low_threshold: bool = False

    @model_validator(mode="after")
    def _threshold_never_below_the_minimum(self) -> ReportingSettings:
        floor = 2 if self.testing_allow_low_threshold else MIN_THRESHOLD
        if self.small_cell_threshold < floor:
            raise ValueError(f"small_cell_threshold must be at least {MIN_THRESHOLD}")
        return self
