"""Replies, closings, overrides, SLA breaches, escalations and erasures move the figures."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from typing import Any

from sqlalchemy import select

from services.reporting import service
from services.reporting.models import EscalationFact, TicketFact
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
from shared.contracts import (
    Author,
    Category,
    Envelope,
    EscalationState,
    Outcome,
    Priority,
    RepriorityReason,
    RequesterRole,
    SlaLevel,
)
from shared.testing.events import RECEIVED_AT, requester_erased, ticket_received, ticket_triaged

MIN = timedelta(minutes=1)


def opened_ticket(
    ticket_id: uuid.UUID, *, priority: Priority = Priority.P3, **received: Any
) -> list[Envelope]:
    return [
        ticket_received(ticket_id=ticket_id, **received),
        ticket_triaged(ticket_id=ticket_id, category=Category.harassment, priority=priority),
    ]


async def figure(runtime: Runtime, name: str, kind: str = "durations") -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await getattr(service, kind)(
            session=session, figure=name, first=None, last=None, threshold=5
        )
        result: dict[str, Any] = found.model_dump()
        return result


async def breakdown(runtime: Runtime, dimension: str) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await service.breakdown(
            session=session, dimension=dimension, first=None, last=None, threshold=5
        )
        return {"cells": found.cells, "total": found.total}


async def counters(runtime: Runtime) -> dict[str, Any]:
    async with runtime.sessions() as session:
        found = await service.series(
            session=session,
            dimension="public",
            first=None,
            last=None,
            granularity="month",
            threshold=5,
        )
        return found.value_totals


async def fact(runtime: Runtime, ticket_id: uuid.UUID) -> TicketFact:
    async with runtime.sessions() as session:
        found = await session.get(TicketFact, ticket_id)
        assert found is not None
        return found


async def test_the_first_handler_reply_is_the_first_response_and_sets_sla(
    runtime: Runtime,
) -> None:
    events: list[Envelope] = []
    for i in range(6):
        t = uuid.uuid4()
        events += opened_ticket(t)
        # A note and the requester's own follow-up come first: neither is a response.
        events.append(message_added(t, after=2 * MIN, internal=True))
        events.append(message_added(t, after=3 * MIN, author=Author.requester))
        events.append(message_added(t, after=(100 if i < 5 else 600) * MIN))
        events.append(message_added(t, after=900 * MIN))

    await fold(runtime, events)

    durations = await figure(runtime, "first_response")
    assert durations["count"]["P3"] == 6
    assert (durations["p50_minutes"]["P3"], durations["p90_minutes"]["P3"]) == (120, 1440)
    sla = await figure(runtime, "sla", "rates")
    assert (sla["count"]["P3"], sla["hits"]["P3"]) == (6, 5)
    assert sla["rate"]["P3"] == round(5 / 6, 3)


async def test_the_latest_closing_gives_resolution_time_and_outcome(runtime: Runtime) -> None:
    events: list[Envelope] = []
    ids = [uuid.uuid4() for _ in range(5)]
    for t in ids:
        events += opened_ticket(t)
        events.append(closed(t, after=200 * MIN, outcome=Outcome.referred))
        events.append(closed(t, after=2000 * MIN, outcome=Outcome.resolved))  # reopened, closed
    random.Random(1).shuffle(events)

    await fold(runtime, events, batch=7)

    durations = await figure(runtime, "resolution")
    assert durations["count"]["P3"] == 5
    assert durations["p50_minutes"]["P3"] == 2880
    assert await breakdown(runtime, "outcome") == {"cells": {"resolved": 5}, "total": 5}
    assert (await fact(runtime, ids[0])).outcome == "resolved"


async def test_an_override_replaces_triage_and_counts_towards_the_override_rate(
    runtime: Runtime,
) -> None:
    events: list[Envelope] = []
    ids = [uuid.uuid4() for _ in range(11)]
    for i, t in enumerate(ids):
        events += opened_ticket(t)
        if i < 6:
            # A handler moves it to doxxing, P1 ...
            events.append(reprioritised(t, after=60 * MIN))
            # ... after an earlier re-triage that arrives late and must not win.
            events.append(
                reprioritised(
                    t,
                    after=30 * MIN,
                    category=Category.threats,
                    priority=Priority.P2,
                    reason=RepriorityReason.retriage,
                )
            )
    await fold(runtime, events)

    first = await fact(runtime, ids[0])
    assert (first.category, first.priority, first.overridden) == ("doxxing", "P1", True)
    assert (await fact(runtime, ids[10])).overridden is False
    rates = await figure(runtime, "override", "rates")
    assert rates["count"] == {"doxxing": 6, "harassment": 5}
    assert rates["hits"] == {"doxxing": 6, "harassment": 0}
    assert rates["rate"] == {"doxxing": 1.0, "harassment": 0.0}


async def test_a_retriage_is_not_an_override(runtime: Runtime) -> None:
    t = uuid.uuid4()
    await fold(
        runtime,
        [*opened_ticket(t), reprioritised(t, after=20 * MIN, reason=RepriorityReason.retriage)],
    )

    found = await fact(runtime, t)
    assert (found.category, found.overridden) == ("doxxing", False)


async def test_only_a_missed_target_counts_as_an_sla_breach_once(runtime: Runtime) -> None:
    events: list[Envelope] = []
    for _ in range(5):
        t = uuid.uuid4()
        events += opened_ticket(t)
        events += [sla_breached(t, level=level) for level in SlaLevel]
        events.append(sla_breached(t))  # announced again (a replay): still one breach

    await fold(runtime, events)

    assert await breakdown(runtime, "sla_breached") == {"cells": {"P3": 5}, "total": 5}


async def test_escalations_count_tickets_outcomes_and_platform_response(runtime: Runtime) -> None:
    events: list[Envelope] = []
    ids = [uuid.uuid4() for _ in range(6)]
    for t in ids:
        e = uuid.uuid4()
        events += opened_ticket(t)
        events.append(escalation_opened(t, e, after=30 * MIN))
        submitted = RECEIVED_AT + 40 * MIN
        # Refused first; reopened and actioned later: the latest resolution wins.
        events.append(
            escalation_resolved(
                t,
                e,
                submitted=submitted,
                answered_after=3000 * MIN,
                resolved_after=3000 * MIN,
                acknowledged=False,
                outcome=EscalationState.refused,
            )
        )
        events.append(
            escalation_resolved(
                t, e, submitted=submitted, answered_after=100 * MIN, resolved_after=5000 * MIN
            )
        )
    # A second escalation of one ticket counts the ticket once.
    events.append(escalation_opened(ids[0], uuid.uuid4(), platform="x", after=50 * MIN))
    events.reverse()  # every resolution before its opening, the later one first

    await fold(runtime, events, batch=5)

    assert (await counters(runtime))["tickets_escalated"] == 6
    # One escalation to x: "<5", and the 6 to meta withheld, or 7 - 6 would give it away.
    assert await breakdown(runtime, "platform") == {"cells": {"meta": "x", "x": "<5"}, "total": 7}
    response = await figure(runtime, "platform_response")
    assert response["count"] == {"meta": 6, "x": 0}
    assert (response["p50_minutes"]["meta"], response["p50_minutes"]["x"]) == (120, None)
    async with runtime.sessions() as session:
        rows = (await session.execute(select(EscalationFact))).scalars().all()
    assert sorted(r.outcome or "pending" for r in rows) == ["actioned"] * 6 + ["pending"]
    assert (await fact(runtime, ids[0])).escalated_at == RECEIVED_AT + 30 * MIN


async def test_an_erasure_forgets_role_and_country_but_moves_no_published_count(
    runtime: Runtime,
) -> None:
    ids = [uuid.uuid4() for _ in range(6)]
    events: list[Envelope] = []
    for t in ids:
        events += opened_ticket(t, requester_role=RequesterRole.journalist, country="LB")
    await fold(runtime, events)
    before = (await breakdown(runtime, "country"), await counters(runtime))

    await fold(runtime, [requester_erased(ticket_ids=(ids[0],))])
    # A late copy of what intake received does not bring them back.
    await fold(runtime, opened_ticket(ids[0], requester_role=RequesterRole.journalist))

    erased = await fact(runtime, ids[0])
    assert (erased.requester_role, erased.country, erased.erased) == (None, None, True)
    assert (await breakdown(runtime, "country"), await counters(runtime)) == before
    assert before[1]["journalists_assisted"] == 6


async def test_the_lifecycle_in_any_order_gives_the_same_figures(runtime: Runtime) -> None:
    events: list[Envelope] = []
    for i in range(12):
        t, e = uuid.uuid4(), uuid.uuid4()
        events += opened_ticket(t, priority=Priority.P2 if i % 2 else Priority.P3)
        events += [message_added(t, after=(20 + 40 * i) * MIN), closed(t, after=300 * i * MIN)]
        if i % 3 == 0:
            events.append(reprioritised(t, after=15 * MIN, priority=Priority.P1))
        if i % 4 == 0:
            events.append(sla_breached(t))
        if i % 2 == 0:
            events.append(escalation_opened(t, e, after=5 * MIN))
    shuffled = list(events)
    random.Random(7).shuffle(shuffled)

    await fold(runtime, events)
    in_order = await all_figures(runtime)
    await fold(runtime, shuffled)  # every event again, in another order: no effect

    assert await all_figures(runtime) == in_order
    assert in_order["counters"]["tickets_escalated"] == 6


async def all_figures(runtime: Runtime) -> dict[str, Any]:
    return {
        "counters": await counters(runtime),
        **{name: await figure(runtime, name) for name in ("first_response", "resolution")},
        **{name: await figure(runtime, name, "rates") for name in ("sla", "override")},
        "outcome": await breakdown(runtime, "outcome"),
    }
