"""The outbox relay: committed events reach JetStream in order, once, with their trace."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from nats.js import JetStreamContext
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer, format_span_id, format_trace_id
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.contracts import Envelope, decode
from shared.db import SessionMaker, make_sessionmaker
from shared.messaging.outbox import add_to_outbox, outbox_rows, wake_info
from shared.messaging.relay import OutboxRelay
from shared.testing.events import ticket_received, ticket_triaged
from shared.tests.messaging.conftest import Tables
from shared.tests.messaging.support import count_rows, eventually, stream_messages

INTAKE = "SANAD_INTAKE"
# Far longer than any wait below: an event that arrives did not wait for a poll.
POLL_SECONDS = 30.0

RelayFactory = Callable[[], OutboxRelay]
AppSessions = Callable[[OutboxRelay | None], SessionMaker]


class Aborted(Exception):
    """Raised inside a transaction to roll it back."""


@pytest.fixture
def make_relay(
    sessions: SessionMaker,
    writer_sessions: SessionMaker,
    tables: Tables,
    js: JetStreamContext,
    tracer: Tracer,
) -> RelayFactory:
    def make() -> OutboxRelay:
        return OutboxRelay(
            sessions=sessions,
            writer_sessions=writer_sessions,
            table=tables.outbox,
            js=js,
            tracer=tracer,
            poll_seconds=POLL_SECONDS,
        )

    return make


@asynccontextmanager
async def running(relay: OutboxRelay) -> AsyncIterator[OutboxRelay]:
    task = asyncio.create_task(relay.run())
    try:
        yield relay
    finally:
        relay.stop()
        await asyncio.wait_for(task, timeout=5)


@pytest.fixture
def app_sessions(writer_engine: AsyncEngine) -> AppSessions:
    """What a service's request handlers use: a commit with events wakes `relay`."""

    def make(relay: OutboxRelay | None) -> SessionMaker:
        info = wake_info(relay.wake) if relay is not None else None
        return make_sessionmaker(writer_engine, info=info)

    return make


async def commit_events(sessions: SessionMaker, tables: Tables, *events: Envelope) -> None:
    async with sessions() as session, session.begin():
        await add_to_outbox(session, tables.outbox, *events)


async def add_then_abort(sessions: SessionMaker, tables: Tables, *events: Envelope) -> None:
    async with sessions() as session, session.begin():
        await add_to_outbox(session, tables.outbox, *events)
        raise Aborted


async def published(js: JetStreamContext, count: int, stream: str = INTAKE) -> list[Envelope]:
    """Wait for `count` messages in `stream`; return them decoded, checking their Msg-Id."""

    async def enough() -> list[Envelope] | None:
        msgs = await stream_messages(js, stream)
        return None if len(msgs) < count else [decode(m.data or b"") for m in msgs]

    events = await eventually(enough)
    msgs = await stream_messages(js, stream)
    assert [m.headers and m.headers["Nats-Msg-Id"] for m in msgs] == [
        str(e.event_id) for e in events
    ]
    return events


async def test_committed_events_are_published_in_order_with_their_id_as_msg_id(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    tables: Tables,
) -> None:
    events = [ticket_received() for _ in range(40)]
    async with running(make_relay()) as relay:
        app = app_sessions(relay)
        await commit_events(app, tables, *events[:25])
        await commit_events(app, tables, *events[25:])

        arrived = await published(js, len(events))

    assert [e.event_id for e in arrived] == [e.event_id for e in events]
    assert arrived == events


async def test_published_rows_are_deleted_from_the_outbox(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    async with running(make_relay()) as relay:
        await commit_events(app_sessions(relay), tables, ticket_received())
        await published(js, 1)

        async def outbox_empty() -> bool:
            return await count_rows(sessions, tables.outbox) == 0

        await eventually(outbox_empty)
        assert relay.published == 1


async def test_a_rolled_back_transaction_publishes_nothing(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    rolled_back, committed = ticket_received(), ticket_received()
    async with running(make_relay()) as relay:
        app = app_sessions(relay)
        with pytest.raises(Aborted):
            await add_then_abort(app, tables, rolled_back)
        # Published after the rolled-back one would have been: once it is here, so would that.
        await commit_events(app, tables, committed)

        arrived = await published(js, 1)

    assert [e.event_id for e in arrived] == [committed.event_id]
    assert await count_rows(sessions, tables.outbox) == 0


async def test_the_relay_wakes_on_commit_instead_of_waiting_for_its_poll(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    writer_sessions: SessionMaker,
    tables: Tables,
) -> None:
    first, second = ticket_received(), ticket_received()
    await commit_events(writer_sessions, tables, first)
    async with running(make_relay()) as relay:
        # The first pass has read the outbox: from here on only a wake-up finds new rows.
        async def first_pass_done() -> bool:
            return relay.published == 1

        await eventually(first_pass_done)
        started = time.monotonic()
        await commit_events(app_sessions(relay), tables, second)

        await published(js, 2, INTAKE)
        elapsed = time.monotonic() - started

    assert elapsed < 2.0, f"took {elapsed:.2f}s: the relay waited for its poll"


async def test_a_released_savepoint_does_not_wake_the_relay_before_the_commit(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    writer_sessions: SessionMaker,
    tables: Tables,
) -> None:
    first, second = ticket_received(), ticket_received()
    await commit_events(writer_sessions, tables, first)
    async with running(make_relay()) as relay:

        async def first_pass_done() -> bool:
            return relay.published == 1

        await eventually(first_pass_done)
        async with app_sessions(relay)() as session, session.begin():
            # As a consumer does: each event's writes in a savepoint of the batch transaction.
            async with session.begin_nested():
                await add_to_outbox(session, tables.outbox, second)
            # The batch goes on a while: a relay woken by the savepoint would read nothing now.
            await asyncio.sleep(0.3)
        started = time.monotonic()

        await published(js, 2)
        elapsed = time.monotonic() - started

    assert elapsed < 2.0, f"took {elapsed:.2f}s: the wake-up came before the commit"


async def test_rows_committed_while_no_relay_ran_are_published_when_one_starts(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    stopped = make_relay()
    async with running(stopped):
        pass
    events = [ticket_received(), ticket_received(), ticket_received()]
    # Committed with no relay listening: nobody is woken.
    await commit_events(app_sessions(None), tables, *events)

    async with running(make_relay()):
        arrived = await published(js, 3)

    assert [e.event_id for e in arrived] == [e.event_id for e in events]
    assert stopped.published == 0
    assert await count_rows(sessions, tables.outbox) == 0


async def test_an_event_published_again_after_a_crash_is_deduplicated_by_jetstream(
    js: JetStreamContext,
    make_relay: RelayFactory,
    writer_sessions: SessionMaker,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    events = [ticket_received(), ticket_received()]
    rows = outbox_rows(events)
    await commit_events(writer_sessions, tables, *events)
    async with running(make_relay()) as first:
        await published(js, 2)
    assert first.published == 2

    # A relay that died after publishing but before deleting leaves the rows behind.
    async with writer_sessions() as session, session.begin():
        await session.execute(insert(tables.outbox), rows)
    async with running(make_relay()) as second:

        async def republished() -> bool:
            return second.published == 2

        await eventually(republished)

    info = await js.stream_info(INTAKE)
    assert info.state.messages == 2
    assert [e.event_id for e in await published(js, 2)] == [e.event_id for e in events]
    assert await count_rows(sessions, tables.outbox) == 0


async def test_each_event_goes_to_its_producers_stream(
    js: JetStreamContext,
    make_relay: RelayFactory,
    app_sessions: AppSessions,
    tables: Tables,
) -> None:
    received, triaged = ticket_received(), ticket_triaged()
    async with running(make_relay()) as relay:
        await commit_events(app_sessions(relay), tables, received, triaged)

        assert [e.event_id for e in await published(js, 1, INTAKE)] == [received.event_id]
        assert [e.event_id for e in await published(js, 1, "SANAD_TRIAGE")] == [triaged.event_id]


async def test_the_trace_of_the_request_travels_in_the_nats_headers(
    js: JetStreamContext,
    make_relay: RelayFactory,
    writer_sessions: SessionMaker,
    sessions: SessionMaker,
    tables: Tables,
    tracer: Tracer,
    spans: InMemorySpanExporter,
) -> None:
    with tracer.start_as_current_span("POST /v1/tickets") as request:
        await commit_events(writer_sessions, tables, ticket_received())
    request_ctx = request.get_span_context()
    trace_id = format_trace_id(request_ctx.trace_id)
    async with sessions() as session:
        carrier = (await session.execute(select(tables.outbox.c.trace_carrier))).scalar_one()
    assert carrier["traceparent"].split("-")[1:3] == [trace_id, format_span_id(request_ctx.span_id)]

    async with running(make_relay()):
        await published(js, 1)
    [msg] = await stream_messages(js, INTAKE)

    assert msg.headers is not None
    _, header_trace, header_span, _ = msg.headers["traceparent"].split("-")
    assert header_trace == trace_id
    [publish] = [s for s in spans.get_finished_spans() if s.name.startswith("publish ")]
    assert header_span == format_span_id(publish.context.span_id)
    assert publish.parent is not None
    assert publish.parent.span_id == request_ctx.span_id
