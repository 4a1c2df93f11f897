"""/metrics shows each durable consumer's lag, the dead letters, the SLA breaches, the
tickets by state and the queues per priority."""

from __future__ import annotations

import random
import re
import uuid
from datetime import timedelta

import httpx
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from services.reporting import ops
from services.reporting.consumers import SPECS
from services.reporting.tests.events import (
    assigned,
    closed,
    fold,
    message_added,
    sla_breached,
    status_changed,
)
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    Envelope,
    Priority,
    TicketStatus,
    dlq_subject,
    encode,
    stream_for,
)
from shared.testing.events import ticket_received, ticket_triaged
from shared.testing.fixtures import Auth

MIN = timedelta(minutes=1)


async def test_metrics_show_consumer_lag_dead_letters_and_sla_breaches(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, js: JetStreamContext
) -> None:
    for spec in SPECS:  # the durables the live service would have made
        config = ConsumerConfig(
            durable_name=spec.durable, filter_subject=spec.subject, ack_policy=AckPolicy.EXPLICIT
        )
        await js.add_consumer(stream_for(spec.subject).name, config)
    for _ in range(3):
        await js.publish("sanad.intake.ticket.received", encode(ticket_received()))
    await js.publish(dlq_subject("reporting"), b"{}")
    t = uuid.uuid4()
    await fold(
        runtime, [ticket_received(ticket_id=t), ticket_triaged(ticket_id=t), sla_breached(t)]
    )

    await ops.refresh(runtime.extras["ops"], js=js, sessions=runtime.sessions, specs=SPECS)
    response = await client.get("/metrics", headers=await auth(Scope.ops))

    assert response.status_code == 200
    body = response.text
    assert 'sanad_consumer_pending{consumer="reporting-intake-ticket-received"} 3.0' in body
    assert 'sanad_consumer_pending{consumer="reporting-triage-sla-breached"} 0.0' in body
    assert 'sanad_dead_letters{service="reporting"} 1.0' in body
    assert 'sanad_sla_breaches{priority="P2"} 1.0' in body


async def test_metrics_show_tickets_by_state_and_the_queues_per_priority(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    t = [uuid.uuid4() for _ in range(6)]
    events: list[Envelope] = [
        *opened(t[0], Priority.P1),  # new, unanswered, unassigned
        *opened(t[1], Priority.P1),
        assigned(t[1], after=2 * MIN),
        status_changed(t[1], after=3 * MIN, to=TicketStatus.open),
        *opened(t[2], Priority.P2),  # answered and held: in no queue
        assigned(t[2], after=2 * MIN),
        message_added(t[2], after=4 * MIN),
        status_changed(t[2], after=4 * MIN, to=TicketStatus.waiting_on_requester),
        *opened(t[3], Priority.P2),  # closed: in no queue whatever else it lacks
        status_changed(t[3], after=9 * MIN, to=TicketStatus.closed),
        closed(t[3], after=9 * MIN),
        ticket_received(ticket_id=t[4]),  # not triaged yet
        *opened(t[5], Priority.P3),  # assigned, then handed back: unassigned again
        assigned(t[5], after=2 * MIN),
        assigned(t[5], after=8 * MIN, handler_id=None),
    ]
    random.Random(5).shuffle(events)
    await fold(runtime, events, batch=4)
    await fold(runtime, events[:7])  # redelivered: changes nothing

    await ops.refresh(runtime.extras["ops"], js=None, sessions=runtime.sessions, specs=SPECS)
    body = (await client.get("/metrics", headers=await auth(Scope.ops))).text

    assert metric(body, "sanad_tickets") == {
        "new": 3.0,
        "open": 1.0,
        "waiting_on_requester": 1.0,
        "closed": 1.0,
    }
    assert metric(body, "sanad_queue_unanswered") == {"P1": 2.0, "P3": 1.0, "untriaged": 1.0}
    assert metric(body, "sanad_queue_unassigned") == {"P1": 1.0, "P3": 1.0, "untriaged": 1.0}


def opened(ticket_id: uuid.UUID, priority: Priority) -> list[Envelope]:
    return [
        ticket_received(ticket_id=ticket_id),
        ticket_triaged(ticket_id=ticket_id, priority=priority),
    ]


def metric(body: str, name: str) -> dict[str, float]:
    """One gauge's samples by their only label value."""
    found = re.findall(rf'^{name}{{\w+="([^"]+)"}} (\S+)$', body, flags=re.M)
    return {label: float(value) for label, value in found}
