"""End to end through the bus: events published to a real nats-server move the figures.

The service runs its own durable consumers here, as in production; the test publishes the
events of five tickets' journeys (received, triaged, assigned, answered, referred, closed)
and reads the figures and /metrics over HTTP while they arrive.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from nats.js import JetStreamContext

from services.reporting import ops
from services.reporting.config import ReportingSettings
from services.reporting.consumers import SPECS
from services.reporting.tests.events import (
    assigned,
    closed,
    message_added,
    referral_sent,
    referral_updated,
    status_changed,
)
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import Envelope, Priority, ReferralState, TicketStatus, encode
from shared.testing.events import ticket_received, ticket_triaged
from shared.testing.fixtures import Auth
from shared.testing.nats_server import NatsServer

MIN = timedelta(minutes=1)
T = TypeVar("T")


@pytest.fixture
def settings(tmp_path: Path, nats_server: NatsServer) -> ReportingSettings:
    db = tmp_path / "db"
    return ReportingSettings(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{db / 'reporting.db'}",
        auth_database_url=f"sqlite+aiosqlite:///{db / 'auth.db'}",
        nats_url=nats_server.url,
    )


def journey(ticket_id: uuid.UUID) -> list[Envelope]:
    referral = uuid.uuid4()
    return [
        ticket_received(ticket_id=ticket_id),
        ticket_triaged(ticket_id=ticket_id, priority=Priority.P2),
        assigned(ticket_id, after=12 * MIN),
        status_changed(ticket_id, after=15 * MIN, to=TicketStatus.open),
        message_added(ticket_id, after=40 * MIN),
        referral_sent(referral, partner="partner-a", after=50 * MIN, ticket_id=ticket_id),
        referral_updated(referral, partner="partner-a", to=ReferralState.accepted, after=90 * MIN),
        status_changed(
            ticket_id, after=300 * MIN, to=TicketStatus.closed, from_status=TicketStatus.open
        ),
        closed(ticket_id, after=300 * MIN),
    ]


async def eventually(check: Callable[[], Awaitable[T | None]]) -> T:
    """Poll `check` until it answers; fail after about 30 seconds."""
    last: T | None = None
    for _ in range(150):
        if last := await check():
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"not reached within 30s (last: {last!r})")


async def test_the_figures_move_as_the_journey_runs(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, js: JetStreamContext
) -> None:
    analyst = await auth(Scope.analyst)

    async def read(path: str) -> dict[str, Any]:
        response = await client.get(path, headers=analyst)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    assert (await read("/v1/metrics/summary"))["tickets_received"] == 0
    tickets = [uuid.uuid4() for _ in range(5)]
    for event in (e for t in tickets for e in journey(t)[:2]):
        await js.publish(event.type, encode(event))

    async def triaged() -> dict[str, Any] | None:
        body = await read("/v1/metrics/summary")
        return body if body["tickets_triaged"] == 5 else None

    summary = await eventually(triaged)
    assert summary["by_priority"] == {"P2": 5}

    for event in (e for t in tickets for e in journey(t)[2:]):
        await js.publish(event.type, encode(event))

    async def referred() -> dict[str, Any] | None:
        body = await read("/v1/reports/referrals/outcomes/sent")
        return body if body["cells"].get("partner-a", {}).get("accepted") == 5 else None

    await eventually(referred)

    async def resolved() -> dict[str, Any] | None:
        body = await read("/v1/reports/durations/resolution")
        return body if body["count"].get("P2") == 5 else None

    resolution = await eventually(resolved)
    assert resolution["p50_minutes"]["P2"] == 480  # closed 300 minutes after receipt
    assert (await read("/v1/reports/rates/sla"))["hits"]["P2"] == 5  # answered within 2h
    assert (await read("/v1/reports/referrals"))["cells"]["partner-a"]["sent"] == 5

    await ops.refresh(
        runtime.extras["ops"], js=runtime.bus.js, sessions=runtime.sessions, specs=SPECS
    )
    metrics = (await client.get("/metrics", headers=await auth(Scope.ops))).text
    assert 'sanad_tickets{state="closed"} 5.0' in metrics
    assert "sanad_queue_unanswered{" not in metrics  # every ticket answered and closed
    assert 'sanad_consumer_pending{consumer="reporting-escalation-referral-updated"} 0.0' in metrics
