"""SLA clocks: started by triage, stopped by a handler's answer, paused while waiting, checked."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import repository, sla
from services.triage.models import SlaClock, SlaPublic
from services.triage.sla import Clock, ClockState
from shared.contracts import Priority, SlaBreached, SlaBreachedData, SlaLevel
from shared.messaging.outbox import add_to_outbox


class SlaFilter(StrEnum):
    """Which open clocks a coordinator asks for."""

    open = "open"
    at_risk = "at_risk"  # half the target gone, not yet due
    breached = "breached"  # due and unanswered (alerts included)
    alert = "alert"  # one and a half times the target


def _clock(row: SlaClock) -> Clock:
    return Clock(
        state=ClockState(row.state),
        priority=Priority(row.priority) if row.priority else None,
        received_at=row.received_at,
        paused_seconds=row.paused_seconds,
        paused_at=row.paused_at,
        stopped_at=row.stopped_at,
    )


def _emitted(row: SlaClock) -> set[SlaLevel]:
    return {SlaLevel(level) for level in row.emitted}


def _store(row: SlaClock, clock: Clock, emitted: set[SlaLevel]) -> None:
    row.state = clock.state.value
    row.priority = clock.priority.value if clock.priority else None
    row.received_at = clock.received_at
    row.paused_seconds = clock.paused_seconds
    row.paused_at = clock.paused_at
    row.stopped_at = clock.stopped_at
    row.due_at = sla.due_at(clock)
    # In ladder order, a new list: JSON columns notice reassignment, not mutation.
    row.emitted = [level.value for level, _ in sla.LADDER if level in emitted]
    row.next_check_at = sla.next_check_at(clock, emitted)


async def _row(session: AsyncSession, ticket_id: uuid.UUID) -> SlaClock:
    """The ticket's clock, made by whichever event comes first (some arrive before triage)."""
    row = await repository.get_clock(session, ticket_id)
    if row is None:
        row = SlaClock(ticket_id=ticket_id, state=ClockState.running.value, emitted=[])
        repository.add(session, row)
    return row


async def start_clock(
    *, session: AsyncSession, ticket_id: uuid.UUID, priority: Priority, received_at: datetime
) -> SlaClock:
    """Set the target of a triaged ticket; pauses or an answer seen earlier still count."""
    row = await _row(session, ticket_id)
    clock = _clock(row)
    _store(row, replace(clock, priority=priority, received_at=received_at), set())
    return row


async def reprice_clock(
    *, session: AsyncSession, ticket_id: uuid.UUID, priority: Priority, now: datetime
) -> datetime | None:
    """A new priority: due time again from received_at; levels not reached under it can recur."""
    row = await repository.get_clock(session, ticket_id)
    if row is None or row.received_at is None:
        return None
    clock = replace(_clock(row), priority=priority)
    still = _emitted(row) & set(sla.reached(clock, now))
    _store(row, clock, still)
    return row.due_at if clock.state in (ClockState.running, ClockState.paused) else None


async def pause_clock(*, session: AsyncSession, ticket_id: uuid.UUID, at: datetime) -> None:
    """The ticket waits on the requester: the clock stands still."""
    row = await _row(session, ticket_id)
    _store(row, sla.pause(_clock(row), at), _emitted(row))


async def resume_clock(*, session: AsyncSession, ticket_id: uuid.UUID, at: datetime) -> None:
    """The wait is over: every threshold moves later by the pause."""
    row = await _row(session, ticket_id)
    _store(row, sla.resume(_clock(row), at), _emitted(row))


async def stop_clock(
    *, session: AsyncSession, ticket_id: uuid.UUID, state: ClockState, at: datetime
) -> None:
    """A handler answered (responded) or the ticket closed: the first stop wins."""
    row = await _row(session, ticket_id)
    _store(row, sla.stop(_clock(row), state, at), _emitted(row))


async def check_clocks(
    *, session: AsyncSession, outbox: Table, now: datetime, limit: int = 500
) -> int:
    """Announce every level reached by `now` and not yet announced; returns how many."""
    announced = 0
    for row in await repository.clocks_due(session, now, limit=limit):
        clock = _clock(row)
        emitted = _emitted(row)
        level = sla.to_announce(clock, emitted, now)
        if level is not None and clock.priority is not None and clock.received_at is not None:
            due = sla.due_at(clock)
            assert due is not None
            await add_to_outbox(
                session,
                outbox,
                SlaBreached(
                    ticket_id=row.ticket_id,
                    occurred_at=now,
                    data=SlaBreachedData(
                        level=level,
                        percent=sla.percent_of(level),
                        priority=clock.priority,
                        target_seconds=int(sla.target_of(clock.priority).total_seconds()),
                        received_at=clock.received_at,
                        due_at=due,
                        detected_at=now,
                    ),
                ),
            )
            announced += 1
        _store(row, clock, emitted | set(sla.reached(clock, now)))
    return announced


def clock_public(row: SlaClock, now: datetime) -> SlaPublic:
    clock = _clock(row)
    levels = sla.reached(clock, now)
    return SlaPublic(
        ticket_id=row.ticket_id,
        state=row.state,
        priority=clock.priority,
        received_at=row.received_at,
        due_at=row.due_at,
        paused_seconds=row.paused_seconds,
        percent_elapsed=round(sla.percent_elapsed(clock, now), 1),
        level=levels[-1] if levels else None,
        stopped_at=row.stopped_at,
    )


async def list_clocks(
    *, session: AsyncSession, which: SlaFilter, now: datetime | None = None, limit: int = 500
) -> list[SlaPublic]:
    """Open clocks, soonest due first, filtered by how far along they are."""
    now = now or datetime.now(UTC)
    wanted: dict[SlaFilter, set[SlaLevel | None]] = {
        SlaFilter.at_risk: {SlaLevel.warning},
        SlaFilter.breached: {SlaLevel.breached, SlaLevel.alert},
        SlaFilter.alert: {SlaLevel.alert},
    }
    views = [clock_public(row, now) for row in await repository.open_clocks(session, limit=limit)]
    if which is SlaFilter.open:
        return views
    return [view for view in views if view.level in wanted[which]]
