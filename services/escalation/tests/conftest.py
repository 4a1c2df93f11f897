"""Escalation fixtures: settings -> app -> running client -> runtime and tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from services.escalation.config import EscalationSettings
from services.escalation.main import create_app
from shared.testing.fixtures import sqlite_settings


@pytest.fixture
def settings(tmp_path: Path) -> EscalationSettings:
    return sqlite_settings(
        EscalationSettings,
        tmp_path,
    )


@pytest.fixture
def app(settings: EscalationSettings) -> FastAPI:
    return create_app(settings)
