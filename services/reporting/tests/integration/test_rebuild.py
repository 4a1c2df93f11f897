"""A rebuild from the streams (real nats-server) gives the figures folded live."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from services.reporting import service
from services.reporting.models import EscalationFact, TicketFact
from services.reporting.rebuild import HistoryLost, rebuild
from services.reporting.tests.events import (
    closed,
    escalation_opened,
    escalation_resolved,
    fold,
    message_added,
    reprioritised,
    sla_breached,
)
from shared.app import Runtime
from shared.contracts import Envelope, Priority, RequesterRole, encode
from shared.testing.events import RECEIVED_AT, requester_erased, ticket_received, ticket_triaged

MIN = timedelta(minutes=1)


def history(n: int) -> list[Envelope]:
    """`n` tickets through their whole lifecycle, with every kind of event reporting folds."""
    events: list[Envelope] = []
    roles = list(RequesterRole)
    for i in range(n):
        t, e = uuid.uuid4(), uuid.uuid4()
        role = roles[i % len(roles)]
        events += [
            ticket_received(ticket_id=t, requester_role=role, country=["LB", "SY", "EG"][i % 3]),
            ticket_triaged(ticket_id=t, priority=list(Priority)[i % 4], requester_role=role),
            message_added(t, after=(15 + 37 * i) * MIN),
            closed(t, after=(200 + 90 * i) * MIN),
        ]
        if i % 3 == 0:
            events.append(reprioritised(t, after=20 * MIN))
        if i % 4 == 0:
            events.append(sla_breached(t))
        if i % 2 == 0:
            events.append(
                escalation_opened(t, e, after=30 * MIN, platform=["meta", "x"][i % 4 // 2])
            )
            events.append(
                escalation_resolved(
                    t,
                    e,
                    platform=["meta", "x"][i % 4 // 2],
                    submitted=RECEIVED_AT + 40 * MIN,
                    answered_after=(30 + 11 * i) * MIN,
                    resolved_after=(400 + 11 * i) * MIN,
                )
            )
        if i % 10 == 0:
            events.append(requester_erased(ticket_ids=(t,)))
    return events


async def publish(js: JetStreamContext, events: list[Envelope]) -> None:
    for event in events:
        await js.publish(event.type, encode(event), headers={"Nats-Msg-Id": str(event.event_id)})


async def figures(runtime: Runtime) -> dict[str, Any]:
    """Every figure the service answers, as published (threshold 5)."""
    out: dict[str, Any] = {}
    async with runtime.sessions() as session:
        out["summary"] = (await service.summary(session=session, threshold=5)).model_dump()
        for dim in ("priority", "category", "requester_role", "country", "platform", "outcome"):
            out[dim] = (
                await service.breakdown(
                    session=session, dimension=dim, first=None, last=None, threshold=5
                )
            ).model_dump()
        for granularity in ("day", "month"):
            series = await service.series(
                session=session,
                dimension="public",
                first=None,
                last=None,
                granularity=granularity,
                threshold=5,
            )
            out[f"public:{granularity}"] = series.model_dump()
        for name in ("first_response", "resolution", "platform_response"):
            durations = await service.durations(
                session=session, figure=name, first=None, last=None, threshold=5
            )
            out[name] = durations.model_dump()
        for name in ("sla", "override"):
            rates = await service.rates(
                session=session, figure=name, first=None, last=None, threshold=5
            )
            out[name] = rates.model_dump()
    return out


async def rows(runtime: Runtime) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    async with runtime.sessions() as session:
        facts = (await session.execute(select(TicketFact))).scalars().all()
        escalations = (await session.execute(select(EscalationFact))).scalars().all()
    key = str
    return (
        sorted((f.model_dump() for f in facts), key=lambda r: key(r["ticket_id"])),
        sorted((e.model_dump() for e in escalations), key=lambda r: key(r["escalation_id"])),
    )


async def test_a_rebuild_from_the_streams_gives_the_figures_folded_live(
    runtime: Runtime, js: JetStreamContext
) -> None:
    events = history(60)
    random.Random(3).shuffle(events)
    await publish(js, events)
    await fold(runtime, events, batch=17)  # live: one batch at a time, in arrival order
    live, live_rows = await figures(runtime), await rows(runtime)
    # Something the streams never held, to be dropped by the rebuild.
    await fold(runtime, [ticket_received()])

    result = await rebuild(js=js, sessions=runtime.writer_sessions, batch=50)

    assert result.folded == len(events)
    assert result.skipped == 0
    assert await figures(runtime) == live
    assert await rows(runtime) == live_rows
    assert live["public:month"]["value_totals"]["tickets_escalated"] == 30
    assert live["first_response"]["count"]["P1"] == 30  # 15 triaged P1, 15 overridden to P1


async def test_a_rebuild_refuses_when_a_stream_has_lost_its_first_events(
    runtime: Runtime, js: JetStreamContext
) -> None:
    await publish(js, history(3))
    await js.purge_stream("SANAD_INTAKE", keep=2)
    await fold(runtime, [ticket_received()])

    with pytest.raises(HistoryLost):
        await rebuild(js=js, sessions=runtime.writer_sessions)

    async with runtime.sessions() as session:
        assert len((await session.execute(select(TicketFact))).scalars().all()) == 1
