"""Reporting fixtures: settings -> app -> running client -> runtime and tokens; NATS."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from fastapi import FastAPI
from nats.js import JetStreamContext

from services.reporting.config import ReportingSettings
from services.reporting.main import create_app
from shared.messaging.connection import ensure_streams
from shared.testing.fixtures import sqlite_settings
from shared.testing.nats_server import NatsServer, start_nats_server


@pytest.fixture
def settings(tmp_path: Path) -> ReportingSettings:
    return sqlite_settings(
        ReportingSettings,
        tmp_path,
    )


@pytest.fixture
def app(settings: ReportingSettings) -> FastAPI:
    return create_app(settings)


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
