"""Durable consumers: effect and inbox row commit together; every message is settled."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from nats.js import JetStreamContext
from nats.js.api import ConsumerInfo, RawStreamMsg
from nats.js.errors import NotFoundError
from opentelemetry.trace import Tracer

from shared.contracts import encode
from shared.db import SessionMaker
from shared.messaging.consumer import Consumer, ConsumerOptions, ConsumerSpec, PermanentError
from shared.testing.events import ticket_received, ticket_triaged
from shared.tests.messaging.conftest import Tables
from shared.tests.messaging.support import (
    EffectHandler,
    column_values,
    eventually,
    last_dead_letter,
    publish_event,
)

SUBJECT = "sanad.intake.ticket.received"
DURABLE = "triage-intake-ticket-received"
MAX_DELIVER = 3
OPTIONS = ConsumerOptions(
    max_deliver=MAX_DELIVER,
    ack_wait=10.0,
    idle_wait=0.1,
    backoff_base=0.02,
    backoff_max=0.1,
)

ConsumerFactory = Callable[[EffectHandler], Consumer]


@pytest.fixture
def handler(tables: Tables) -> EffectHandler:
    return EffectHandler(tables.effects)


@pytest.fixture
def make_consumer(
    js: JetStreamContext, writer_sessions: SessionMaker, tables: Tables, tracer: Tracer
) -> ConsumerFactory:
    def make(handler: EffectHandler) -> Consumer:
        return Consumer(
            ConsumerSpec(service="triage", subject=SUBJECT, handler=handler),
            js=js,
            sessions=writer_sessions,
            inbox=tables.inbox,
            tracer=tracer,
            options=OPTIONS,
        )

    return make


@pytest.fixture
def consumer(make_consumer: ConsumerFactory, handler: EffectHandler) -> Consumer:
    return make_consumer(handler)


@asynccontextmanager
async def running(consumer: Consumer) -> AsyncIterator[Consumer]:
    task = asyncio.create_task(consumer.run())
    try:
        yield consumer
    finally:
        consumer.stop()
        await asyncio.wait_for(task, timeout=5)
        await consumer.close()


async def settled(js: JetStreamContext, messages: int) -> ConsumerInfo:
    """Wait until the durable consumer has acked or terminated `messages` stream messages."""

    async def done() -> ConsumerInfo | None:
        try:
            info = await js.consumer_info("SANAD_INTAKE", DURABLE)
        except NotFoundError:  # not subscribed yet
            return None
        floor = info.ack_floor.stream_seq if info.ack_floor else 0
        return info if floor >= messages and info.num_ack_pending == 0 else None

    return await eventually(done)


async def dead_letter(js: JetStreamContext) -> RawStreamMsg:
    async def found() -> RawStreamMsg | None:
        return await last_dead_letter(js, "triage")

    return await eventually(found)


def test_the_durable_name_is_consumer_producer_thing_verb() -> None:
    async def noop(*_: object) -> None:
        return None

    assert ConsumerSpec("triage", SUBJECT, noop).durable == DURABLE
    assert (
        ConsumerSpec("reporting", ticket_triaged().subject, noop).durable
        == "reporting-triage-ticket-triaged"
    )


async def test_the_server_side_consumer_carries_the_durable_name(
    js: JetStreamContext, consumer: Consumer
) -> None:
    await consumer.subscribe()

    info = await js.consumer_info("SANAD_INTAKE", DURABLE)
    assert info.config.durable_name == DURABLE
    assert info.config.filter_subject == SUBJECT


async def test_an_applied_event_commits_its_effect_with_its_inbox_row(
    js: JetStreamContext, consumer: Consumer, sessions: SessionMaker, tables: Tables
) -> None:
    event = ticket_received()
    async with running(consumer):
        await publish_event(js, event)
        await settled(js, 1)

    assert await column_values(sessions, tables.effects, "event_id") == [str(event.event_id)]
    assert await column_values(sessions, tables.inbox, "event_id") == [str(event.event_id)]
    assert await column_values(sessions, tables.inbox, "consumer") == [DURABLE]
    assert consumer.applied == 1


async def test_a_redelivered_duplicate_is_applied_once_and_acked(
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    event = ticket_received()
    # Another Msg-Id, so JetStream keeps both copies: the inbox must catch the second.
    await publish_event(js, event)
    await publish_event(js, event, msg_id=f"{event.event_id}-again")
    assert (await js.stream_info("SANAD_INTAKE")).state.messages == 2

    async with running(consumer):
        info = await settled(js, 2)

    assert info.num_pending == 0
    assert handler.calls_for(event.event_id) == 1
    assert await column_values(sessions, tables.effects, "event_id") == [str(event.event_id)]
    assert await column_values(sessions, tables.inbox, "event_id") == [str(event.event_id)]
    assert consumer.applied == 1


async def test_a_duplicate_arriving_in_a_later_batch_is_acked_without_applying(
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    event = ticket_received()
    async with running(consumer):
        await publish_event(js, event)
        await settled(js, 1)
        await publish_event(js, event, msg_id=f"{event.event_id}-again")
        await settled(js, 2)

    assert handler.calls_for(event.event_id) == 1
    assert await column_values(sessions, tables.effects, "event_id") == [str(event.event_id)]


async def test_a_transient_failure_is_naked_and_succeeds_on_a_later_delivery(
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    event = ticket_received()
    handler.raises[event.event_id] = [ConnectionError("blip"), ConnectionError("blip")]
    async with running(consumer):
        await publish_event(js, event)
        info = await settled(js, 1)

    assert info.delivered is not None
    assert info.delivered.consumer_seq == 3, "delivered three times: two naks, then an ack"
    assert handler.calls_for(event.event_id) == 3
    # The failed attempts' effects were rolled back: one row, not three.
    assert await column_values(sessions, tables.effects, "event_id") == [str(event.event_id)]
    assert await column_values(sessions, tables.inbox, "event_id") == [str(event.event_id)]
    assert await last_dead_letter(js, "triage") is None


async def test_a_message_that_always_fails_is_dead_lettered_after_max_deliver(
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    doomed, later = ticket_received(), ticket_received()
    handler.raises[doomed.event_id] = [RuntimeError("always") for _ in range(10)]
    async with running(consumer):
        await publish_event(js, doomed)
        letter = await dead_letter(js)
        await settled(js, 1)
        # A message published after the dead letter: by its ack, nothing else was delivered.
        await publish_event(js, later)
        info = await settled(js, 2)

    assert letter.headers is not None
    assert letter.headers["Sanad-Original-Subject"] == SUBJECT
    assert letter.headers["Sanad-Consumer"] == DURABLE
    assert letter.headers["Sanad-Delivered"] == str(MAX_DELIVER)
    assert letter.headers["Sanad-Error-Type"] == "RuntimeError"
    assert letter.data == encode(doomed)
    assert handler.calls_for(doomed.event_id) == MAX_DELIVER
    assert info.delivered is not None
    assert info.delivered.consumer_seq == MAX_DELIVER + 1
    assert info.num_ack_pending == 0
    assert info.num_redelivered == 0
    assert await column_values(sessions, tables.effects, "event_id") == [str(later.event_id)]
    assert await column_values(sessions, tables.inbox, "event_id") == [str(later.event_id)]


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"\x00\xffnot json at all", id="garbage-bytes"),
        pytest.param(encode(ticket_triaged()), id="event-on-the-wrong-subject"),
    ],
)
async def test_an_undecodable_message_is_dead_lettered_at_once(
    raw: bytes,
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    good = ticket_received()
    async with running(consumer):
        await js.publish(SUBJECT, raw, headers={"Nats-Msg-Id": "undecodable-1"})
        letter = await dead_letter(js)
        await publish_event(js, good)
        info = await settled(js, 2)

    assert letter.headers is not None
    assert letter.headers["Sanad-Delivered"] == "1"
    assert letter.headers["Sanad-Error-Type"] == "ContractError"
    assert letter.data == raw
    assert info.delivered is not None
    assert info.delivered.consumer_seq == 2, "the undecodable message was never redelivered"
    assert [event_id for event_id, _ in handler.calls] == [good.event_id]
    assert await column_values(sessions, tables.effects, "event_id") == [str(good.event_id)]


async def test_a_permanent_error_is_dead_lettered_at_once(
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    event = ticket_received()
    handler.raises[event.event_id] = [PermanentError("cannot apply")]
    async with running(consumer):
        await publish_event(js, event)
        letter = await dead_letter(js)
        info = await settled(js, 1)

    assert letter.headers is not None
    assert letter.headers["Sanad-Delivered"] == "1"
    assert letter.headers["Sanad-Error-Type"] == "PermanentError"
    assert info.delivered is not None
    assert info.delivered.consumer_seq == 1
    assert handler.calls_for(event.event_id) == 1
    assert await column_values(sessions, tables.effects, "event_id") == []
    assert await column_values(sessions, tables.inbox, "event_id") == []


async def test_one_failing_message_in_a_batch_is_isolated_and_the_others_commit(
    js: JetStreamContext,
    consumer: Consumer,
    handler: EffectHandler,
    sessions: SessionMaker,
    tables: Tables,
) -> None:
    first, bad, last = ticket_received(), ticket_received(), ticket_received()
    handler.raises[bad.event_id] = [PermanentError("bad row")]
    for event in (first, bad, last):
        await publish_event(js, event)
    sub = await consumer.subscribe()
    msgs = await sub.fetch(3, timeout=2)
    assert len(msgs) == 3

    await consumer.process(msgs)
    await consumer.close()

    tokens = [token for _, token in handler.calls]
    # Tried as one transaction; the failing message is set apart and the rest retried together.
    assert tokens[0] == tokens[1], "the batch was not one transaction"
    assert tokens[2] == tokens[3] != tokens[0]
    assert handler.calls_for(bad.event_id) == 1
    applied = sorted([str(first.event_id), str(last.event_id)])
    assert await column_values(sessions, tables.effects, "event_id") == applied
    assert await column_values(sessions, tables.inbox, "event_id") == applied
    letter = await dead_letter(js)
    assert letter.data == encode(bad)
    await settled(js, 3)
