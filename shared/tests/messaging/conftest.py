"""A real nats-server for the session; a fresh set of streams and a SQLite file per test."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer
from sqlalchemy import Column, Integer, MetaData, String, Table
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import STREAMS
from shared.db import SessionMaker, create_tables, make_engine, make_sessionmaker
from shared.messaging.connection import ensure_streams
from shared.messaging.tables import inbox_table, outbox_table
from shared.testing.nats_server import NatsServer, start_nats_server


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = start_nats_server(tmp_path_factory.mktemp("nats"))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def nc(nats_server: NatsServer) -> AsyncIterator[Client]:
    client = await nats.connect(nats_server.url, connect_timeout=2)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def bare_js(nc: Client) -> JetStreamContext:
    """JetStream with none of the contract's streams: each test starts from nothing."""
    js = nc.jetstream()
    for spec in STREAMS:
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(spec.name)
    return js


@pytest.fixture
async def js(bare_js: JetStreamContext) -> JetStreamContext:
    """JetStream with the contract's streams freshly created (empty, no consumers)."""
    await ensure_streams(bare_js)
    return bare_js


@dataclass(frozen=True)
class Tables:
    outbox: Table
    inbox: Table
    effects: Table


@pytest.fixture
def tables() -> Tables:
    metadata = MetaData()
    effects = Table(
        "effects",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", String(36), nullable=False, unique=True),
    )
    return Tables(outbox_table(metadata), inbox_table(metadata), effects)


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"


@pytest.fixture
async def engine(database_url: str, tables: Tables) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url)
    await create_tables(engine, tables.outbox.metadata)
    try:
        yield engine
    finally:
        await engine.dispose()


@pytest.fixture
async def writer_engine(database_url: str, engine: AsyncEngine) -> AsyncIterator[AsyncEngine]:
    """The one-connection engine a service's writers share, as shared.app builds it."""
    writer = make_engine(database_url, writer=True)
    try:
        yield writer
    finally:
        await writer.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> SessionMaker:
    """Readers (and the relay's reads)."""
    return make_sessionmaker(engine)


@pytest.fixture
def writer_sessions(writer_engine: AsyncEngine) -> SessionMaker:
    return make_sessionmaker(writer_engine)


@pytest.fixture
def spans() -> InMemorySpanExporter:
    return InMemorySpanExporter()


@pytest.fixture
def tracer(spans: InMemorySpanExporter) -> Iterator[Tracer]:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(spans))
    try:
        yield provider.get_tracer("sanad.tests")
    finally:
        provider.shutdown()
