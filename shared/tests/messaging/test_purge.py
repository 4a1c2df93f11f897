"""Erasure's purge: a ticket's messages are found by header and securely deleted."""

from __future__ import annotations

import uuid

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from opentelemetry.trace import Tracer
from sqlalchemy import func, select

from shared.contracts import encode
from shared.db import SessionMaker
from shared.messaging.consumer import Consumer, ConsumerOptions, ConsumerSpec
from shared.messaging.purge import TICKET_HEADER, purge_ticket_messages, ticket_of
from shared.testing.events import ticket_received
from shared.tests.messaging.conftest import Tables
from shared.tests.messaging.support import eventually

SUBJECT = "sanad.intake.ticket.received"


async def publish_for(js: JetStreamContext, ticket_id: uuid.UUID) -> int:
    event = ticket_received(ticket_id=ticket_id)
    headers = {"Nats-Msg-Id": str(event.event_id), TICKET_HEADER: str(ticket_id)}
    ack = await js.publish(SUBJECT, encode(event), headers=headers)
    return ack.seq


async def still_there(js: JetStreamContext, seq: int) -> bool:
    try:
        await js.get_msg("SANAD_INTAKE", seq)
    except NotFoundError:
        return False
    return True


def test_the_ticket_header_comes_from_the_encoded_event() -> None:
    event = ticket_received()
    assert ticket_of(encode(event)) == str(event.ticket_id)
    assert ticket_of(b"not json") is None
    assert ticket_of(b"[1, 2]") is None


async def test_only_the_erased_tickets_messages_are_deleted_and_twice_is_harmless(
    js: JetStreamContext,
) -> None:
    erased, kept = uuid.uuid4(), uuid.uuid4()
    erased_seqs = [await publish_for(js, erased) for _ in range(3)]
    kept_seqs = [await publish_for(js, kept) for _ in range(2)]

    purge = {
        "stream": "SANAD_INTAKE",
        "subjects": (SUBJECT,),
        "ticket_ids": {str(erased)},
        "scanner": "intake-purge",
    }
    assert await purge_ticket_messages(js, **purge) == 3  # type: ignore[arg-type]

    assert [await still_there(js, s) for s in erased_seqs] == [False] * 3
    assert [await still_there(js, s) for s in kept_seqs] == [True] * 2
    assert await purge_ticket_messages(js, **purge) == 0  # type: ignore[arg-type]
    # The scan's consumer does not outlive it.
    assert await js.consumers_info("SANAD_INTAKE") == []


async def test_a_non_transactional_consumer_runs_its_handler_outside_the_database(
    js: JetStreamContext, writer_sessions: SessionMaker, tables: Tables, tracer: Tracer
) -> None:
    seen: list[uuid.UUID] = []

    async def handler(session: object, event: object) -> None:
        seen.append(event.ticket_id)  # type: ignore[attr-defined]

    consumer = Consumer(
        ConsumerSpec("intake", SUBJECT, handler, transactional=False),
        js=js,
        sessions=writer_sessions,
        inbox=tables.inbox,
        tracer=tracer,
        options=ConsumerOptions(idle_wait=0.1),
    )
    ticket = uuid.uuid4()
    await publish_for(js, ticket)
    sub = await consumer.subscribe()
    msgs = await sub.fetch(1, timeout=5)
    await consumer.process(msgs)
    assert seen == [ticket]
    assert await eventually(lambda: _ack_floor(js, consumer.spec.durable)) == 1
    async with writer_sessions() as session:
        rows = (await session.execute(select(func.count()).select_from(tables.inbox))).scalar_one()
    assert rows == 0  # no inbox row: the handler must be idempotent


async def _ack_floor(js: JetStreamContext, durable: str) -> int | None:
    info = await js.consumer_info("SANAD_INTAKE", durable)
    return info.ack_floor.stream_seq if info.ack_floor and info.ack_floor.stream_seq else None
