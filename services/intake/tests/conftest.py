"""Intake fixtures: settings -> app -> running client -> runtime, tokens and keys."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from shared.app import Runtime
from shared.auth import Scope
from shared.crypto import RecipientKeyPair, load_or_create_recipient_keys
from shared.testing.asgi import bearer, runtime_of, serve

Auth = Callable[[Scope], Awaitable[dict[str, str]]]


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "db" / "intake.db"


@pytest.fixture
def settings(tmp_path: Path, db_path: Path) -> IntakeSettings:
    return IntakeSettings(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{db_path}",
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}",
        bus_enabled=False,
        # Tests post many tickets from one address; the limit has its own tests.
        rate_limit_public_per_minute=0,
        # Replies are sent when a test calls outbound.deliver_due, not behind its back.
        outbound_poll_seconds=0,
        # Tests post the same body many times over; duplicates have their own tests.
        duplicate_window_seconds=0,
    )


@pytest.fixture
def app(settings: IntakeSettings) -> FastAPI:
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as client:
        yield client


@pytest.fixture
def runtime(app: FastAPI, client: httpx.AsyncClient) -> Runtime:
    return runtime_of(app)


@pytest.fixture
def auth(app: FastAPI, client: httpx.AsyncClient) -> Auth:
    """Headers with a fresh token of the given scope."""
    return lambda scope: bearer(app, scope)


@pytest.fixture
def triage_keys(settings: IntakeSettings, client: httpx.AsyncClient) -> RecipientKeyPair:
    """The key pair triage opens sealed text with (in development, a file both read)."""
    return load_or_create_recipient_keys(settings.keys_dir, "triage-content")
