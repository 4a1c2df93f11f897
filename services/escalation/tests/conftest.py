"""Escalation fixtures: settings -> app -> running client -> runtime and tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.escalation.config import EscalationSettings
from services.escalation.main import create_app
from shared.app import Runtime
from shared.auth import Scope
from shared.testing.asgi import bearer, runtime_of, serve

Auth = Callable[[Scope], Awaitable[dict[str, str]]]


@pytest.fixture
def settings(tmp_path: Path) -> EscalationSettings:
    return EscalationSettings(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'escalation.db'}",
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}",
        bus_enabled=False,
    )


@pytest.fixture
def app(settings: EscalationSettings) -> FastAPI:
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
