"""ServiceBus: relay and consumers run together, handlers' events go out at once, stop is prompt."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from nats.js import JetStreamContext
from opentelemetry.trace import Tracer
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from shared.contracts import Envelope, decode
from shared.db import SessionMaker, make_sessionmaker
from shared.messaging.bus import ServiceBus
from shared.messaging.consumer import ConsumerSpec
from shared.messaging.outbox import add_to_outbox, wake_info
from shared.settings import BaseServiceSettings
from shared.testing.events import ticket_received, ticket_triaged
from shared.testing.nats_server import NatsServer
from shared.tests.messaging.conftest import Tables
from shared.tests.messaging.support import (
    EffectHandler,
    column_values,
    eventually,
    publish_event,
    stream_messages,
)

RECEIVED = "sanad.intake.ticket.received"


@pytest.fixture
def settings(nats_server: NatsServer, database_url: str, tmp_path: Path) -> BaseServiceSettings:
    # A poll far longer than any wait here: whatever arrives was woken, not polled.
    return BaseServiceSettings(
        nats_url=nats_server.url,
        database_url=database_url,
        var_dir=tmp_path,
        relay_poll_seconds=30.0,
    )


class Wiring:
    """Sessions that wake the bus's relay on commit, as `shared.app` wires them."""

    def __init__(self, engine: AsyncEngine, writer_engine: AsyncEngine) -> None:
        self.bus: ServiceBus | None = None
        info = wake_info(self._wake)
        self.sessions = make_sessionmaker(engine, info=info)
        self.writer_sessions = make_sessionmaker(writer_engine, info=info)

    def _wake(self) -> None:
        if self.bus is not None:
            self.bus.wake_relay()


@pytest.fixture
def wiring(engine: AsyncEngine, writer_engine: AsyncEngine) -> Wiring:
    return Wiring(engine, writer_engine)


async def start_bus(
    settings: BaseServiceSettings,
    wiring: Wiring,
    tables: Tables,
    tracer: Tracer,
    consumers: Sequence[ConsumerSpec],
) -> ServiceBus:
    bus = ServiceBus(
        settings=settings,
        service="triage",
        sessions=wiring.sessions,
        writer_sessions=wiring.writer_sessions,
        outbox=tables.outbox,
        inbox=tables.inbox,
        tracer=tracer,
        consumers=consumers,
    )
    wiring.bus = bus
    await bus.start()
    return bus


async def round_trip(wiring: Wiring, tables: Tables, sessions: SessionMaker) -> None:
    """Commit a ticket.received to the outbox and wait until the bus's own consumer applied it."""
    event = ticket_received()
    async with wiring.writer_sessions() as session, session.begin():
        await add_to_outbox(session, tables.outbox, event)

    async def applied() -> bool:
        return str(event.event_id) in await column_values(sessions, tables.effects, "event_id")

    await eventually(applied)


@pytest.mark.usefixtures("bare_js")  # no streams: the bus declares them
async def test_stop_returns_promptly_and_closes_the_connection(
    settings: BaseServiceSettings,
    wiring: Wiring,
    sessions: SessionMaker,
    tables: Tables,
    tracer: Tracer,
) -> None:
    spec = ConsumerSpec("triage", RECEIVED, EffectHandler(tables.effects))
    bus = await start_bus(settings, wiring, tables, tracer, [spec])
    try:
        # Relay -> stream -> consumer: both are running when stop is called.
        await round_trip(wiring, tables, sessions)
        assert bus.is_connected()
    finally:
        started = time.monotonic()
        await bus.stop()
        elapsed = time.monotonic() - started

    assert elapsed < 8.0, f"stop took {elapsed:.1f}s"
    assert bus.nc is not None
    assert bus.nc.is_closed
    assert not bus.is_connected()
    names = {"triage-relay", spec.durable}
    assert not [t for t in asyncio.all_tasks() if t.get_name() in names and not t.done()]


async def test_an_event_a_handler_writes_is_published_when_its_batch_commits(
    js: JetStreamContext,
    settings: BaseServiceSettings,
    wiring: Wiring,
    sessions: SessionMaker,
    tables: Tables,
    tracer: Tracer,
) -> None:
    effects = EffectHandler(tables.effects)

    async def triage(session: AsyncSession, event: Envelope) -> None:
        await effects(session, event)
        await add_to_outbox(session, tables.outbox, ticket_triaged(ticket_id=event.ticket_id))

    bus = await start_bus(
        settings, wiring, tables, tracer, [ConsumerSpec("triage", RECEIVED, triage)]
    )
    try:
        await round_trip(wiring, tables, sessions)

        async def first_published() -> bool:
            return len(await stream_messages(js, "SANAD_TRIAGE")) == 1

        # The relay has read the outbox since: from here on only a wake-up finds more.
        await eventually(first_published)
        upstream = ticket_received()
        started = time.monotonic()
        await publish_event(js, upstream)

        async def triaged() -> list[Envelope] | None:
            msgs = await stream_messages(js, "SANAD_TRIAGE")
            found = [decode(m.data or b"") for m in msgs]
            return [e for e in found if e.ticket_id == upstream.ticket_id] or None

        [event] = await eventually(triaged)
        elapsed = time.monotonic() - started
    finally:
        await bus.stop()

    assert elapsed < 2.0, f"took {elapsed:.2f}s: the relay waited for its poll"
    assert event.type == "sanad.triage.ticket.triaged"
