"""The small-cell threshold can be raised, never lowered below 5 outside tests."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from services.reporting.config import ReportingSettings


def test_the_threshold_defaults_to_five() -> None:
    assert ReportingSettings(bus_enabled=False).small_cell_threshold == 5


def test_the_threshold_can_be_raised() -> None:
    assert ReportingSettings(small_cell_threshold=10).small_cell_threshold == 10


def test_a_threshold_below_five_is_refused() -> None:
    with pytest.raises(ValidationError, match="at least 5"):
        ReportingSettings(small_cell_threshold=3)


def test_a_test_may_lower_it_with_the_explicit_flag() -> None:
    settings = ReportingSettings(small_cell_threshold=3, testing_allow_low_threshold=True)

    assert settings.small_cell_threshold == 3


def test_the_environment_cannot_lower_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("REPORTING_SMALL_CELL_THRESHOLD", "2")

    with pytest.raises(ValidationError):
        ReportingSettings()
