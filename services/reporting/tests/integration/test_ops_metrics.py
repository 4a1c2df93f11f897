"""/metrics shows each durable consumer's lag, the dead letters and the SLA breaches."""

from __future__ import annotations

import uuid

import httpx
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from services.reporting import ops
from services.reporting.consumers import SPECS
from services.reporting.tests.events import fold, sla_breached
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import dlq_subject, encode, stream_for
from shared.testing.events import ticket_received, ticket_triaged
from shared.testing.fixtures import Auth


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
