"""A rebuild from the streams (real nats-server) gives the figures folded live."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

import pytest
from nats.js import JetStreamContext
from sqlalchemy import select

from services.reporting import repository, service
from services.reporting.models import EscalationFact, ReferralFact, TicketFact
from services.reporting.rebuild import HistoryLost, rebuild
from services.reporting.tests.events import (
    assigned,
    closed,
    escalation_opened,
    escalation_resolved,
    fold,
    message_added,
    referral_received,
    referral_sent,
    referral_updated,
    reprioritised,
    sla_breached,
    status_changed,
)
from shared.app import Runtime
from shared.contracts import (
    Envelope,
    Priority,
    ReferralDirection,
    ReferralState,
    RequesterErased,
    RequesterRole,
    TicketStatus,
    encode,
)
from shared.testing.events import RECEIVED_AT, requester_erased, ticket_received, ticket_triaged

MIN = timedelta(minutes=1)


def history(n: int) -> list[Envelope]:
    """`n` tickets through their whole lifecycle, with every kind of event reporting folds."""
    events: list[Envelope] = []
    roles = list(RequesterRole)
    for i in range(n):
        t, e = uuid.uuid4(), uuid.uuid4()
        role, country = roles[i % len(roles)], ["LB", "SY", "EG"][i % 3]
        events += [
            ticket_received(ticket_id=t, requester_role=role, country=country),
            # Triage repeats intake's fields, as the real one does: an erasure that lands
            # between the two must find the same country whichever came first.
            ticket_triaged(
                ticket_id=t, priority=list(Priority)[i % 4], requester_role=role, country=country
            ),
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
        if i % 3 != 2:
            events.append(assigned(t, after=5 * MIN, handler_id=None if i % 7 == 0 else "h-1"))
            events.append(status_changed(t, after=16 * MIN, to=TicketStatus.open))
        events += referrals(i)
    return events


def referrals(i: int) -> list[Envelope]:
    """A referral for most tickets, sent or received, through a few of its states."""
    r, partner = uuid.uuid4(), ["partner-a", "partner-b", "partner-c"][i % 3]
    after = (i % 5) * 1440 * MIN
    outbound = i % 2 == 0
    direction = ReferralDirection.outbound if outbound else ReferralDirection.inbound
    first = (
        referral_sent(r, partner=partner, after=after)
        if outbound
        else referral_received(r, partner=partner, after=after)
    )
    states = [ReferralState.accepted, ReferralState.closed, ReferralState.declined][: i % 4]
    return [first] + [
        referral_updated(
            r, partner=partner, direction=direction, to=s, after=after + (30 + 45 * n) * MIN
        )
        for n, s in enumerate(states)
    ]


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
        out["referrals"] = (
            await service.referrals(session=session, first=None, last=None, threshold=5)
        ).model_dump()
        for d in ("sent", "received"):
            outcomes = await service.referral_outcomes(
                session=session, direction=d, first=None, last=None, threshold=5
            )
            acceptance = await service.referral_acceptance(
                session=session, direction=d, first=None, last=None, threshold=5
            )
            out[f"referral_outcomes:{d}"] = outcomes.model_dump()
            out[f"referral_acceptance:{d}"] = acceptance.model_dump()
        out["gauges"] = await repository.gauges(session)
    return out


async def rows(runtime: Runtime) -> list[list[dict[str, Any]]]:
    out = []
    async with runtime.sessions() as session:
        for table, key in (
            (TicketFact, "ticket_id"),
            (EscalationFact, "escalation_id"),
            (ReferralFact, "referral_id"),
        ):
            found = (await session.execute(select(table))).scalars().all()
            out.append(sorted((f.model_dump() for f in found), key=lambda r: str(r[key])))
    return out


async def test_a_rebuild_from_the_streams_gives_the_figures_folded_live(
    runtime: Runtime, js: JetStreamContext
) -> None:
    events = history(60)
    random.Random(3).shuffle(events)
    # Any order across streams, but intake announces a ticket before erasing its requester:
    # what an erasure freezes is what was counted before it, so that order is part of history.
    events.sort(key=lambda e: isinstance(e, RequesterErased))
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
    assert live["referrals"]["value_totals"] == {"sent": 30, "received": 30}
    assert live["gauges"][("tickets", "closed")] == 60


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
