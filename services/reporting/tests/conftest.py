"""Reporting fixtures: settings -> app -> running client -> runtime and tokens; NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path

import httpx
import nats
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.reporting.config import ReportingSettings
from services.reporting.main import create_app
from shared.app import Runtime
from shared.auth import Scope
from shared.messaging.connection import ensure_streams
from shared.testing.asgi import bearer, runtime_of, serve
from shared.testing.nats_server import NatsServer, start_nats_server

Auth = Callable[[Scope], Awaitable[dict[str, str]]]


@pytest.fixture
def settings(tmp_path: Path) -> ReportingSettings:
    return ReportingSettings(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'reporting.db'}",
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}",
        bus_enabled=False,
    )


@pytest.fixture
def app(settings: ReportingSettings) -> FastAPI:
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
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    """A real nats-server of this test's own."""
    server = start_nats_server(tmp_path / "nats")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def js(nats_server: NatsServer) -> AsyncIterator[JetStreamContext]:
    """JetStream with the contract's streams, on `nats_server`."""
    nc = await nats.connect(nats_server.url, connect_timeout=2)
    js = nc.jetstream()
    await ensure_streams(js)
    try:
        yield js
    finally:
        await nc.close()
