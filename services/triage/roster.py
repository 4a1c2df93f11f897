"""The handler roster and ticket assignment: automatic on triage, by a coordinator, or taken."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import keys, repository
from services.triage.domain import WEEKDAYS, Candidate, Shift, choose_handler, choose_lead, on_shift
from services.triage.errors import (
    HandlerExists,
    HandlerNotFound,
    NotOnRoster,
    OnlyForThemselves,
    TicketTaken,
    TokenLinked,
    TriageNotFound,
)
from services.triage.models import (
    AUDIT_TABLES,
    NOTICES,
    Assignment,
    AssignmentChange,
    AssignmentChangePublic,
    AssignmentPublic,
    AssignmentRequest,
    Handler,
    HandlerCreate,
    HandlerLoad,
    HandlerPublic,
    HandlerUpdate,
    LeadPage,
    QueueItem,
    QueuePage,
    ShiftSpec,
    TriageRecord,
    Workload,
)
from services.triage.sla import ClockState
from shared import audit
from shared.auth import Principal, Scope
from shared.contracts import (
    Category,
    LeadPaged,
    LeadPagedData,
    Priority,
    TicketAssigned,
    TicketAssignedData,
)
from shared.crypto import MasterKeyring
from shared.messaging.outbox import add_to_outbox
from shared.notify import queue_notice

AUTOMATIC_ACTOR = "triage"
REASON_KIND = "assignment"
PAGE_REASON = "p1"
# Set on a session that queued a page: notify.py wakes its job once the session commits.


# --- roster ---------------------------------------------------------------------------


def _shifts(row: Handler) -> list[Shift]:
    return [
        Shift(
            days=frozenset(WEEKDAYS.index(d) for d in s["days"]),
            start=time.fromisoformat(s["start"]),
            end=time.fromisoformat(s["end"]),
        )
        for s in row.shifts
    ]


def is_on(row: Handler, now: datetime) -> bool:
    """Available and within one of the handler's shifts at `now`."""
    return row.available and on_shift(_shifts(row), ZoneInfo(row.time_zone), now)


def _handler_public(row: Handler, open_tickets: int, now: datetime) -> HandlerPublic:
    return HandlerPublic(
        handler_id=row.handler_id,
        label=row.label,
        languages=list(row.languages),
        expertise=[Category(c) for c in row.expertise],
        max_open=row.max_open,
        available=row.available,
        token_id=row.token_id,
        shifts=[ShiftSpec.model_validate(s) for s in row.shifts],
        time_zone=row.time_zone,
        lead=row.lead,
        on_shift=is_on(row, now),
        open_tickets=open_tickets,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


async def _open_per_handler(session: AsyncSession) -> Counter[str]:
    counts: Counter[str] = Counter()
    for (handler_id, _), n in (await repository.open_load(session)).items():
        if handler_id is not None:
            counts[handler_id] += n
    return counts


async def _check_token_free(session: AsyncSession, token_id: str | None, handler_id: str) -> None:
    if token_id is None:
        return
    holder = await repository.handler_of_token(session, token_id)
    if holder is not None and holder.handler_id != handler_id:
        raise TokenLinked()


async def create_handler(
    *, session: AsyncSession, request: HandlerCreate, now: datetime | None = None
) -> HandlerPublic:
    """Add a handler to the roster; an id already taken is a conflict."""
    if await repository.get_handler(session, request.handler_id) is not None:
        raise HandlerExists()
    await _check_token_free(session, request.token_id, request.handler_id)
    now = now or datetime.now(UTC)
    row = Handler(
        handler_id=request.handler_id,
        label=request.label,
        languages=list(request.languages),
        expertise=[c.value for c in request.expertise],
        max_open=request.max_open,
        available=request.available,
        token_id=request.token_id,
        shifts=[s.model_dump() for s in request.shifts],
        time_zone=request.time_zone,
        lead=request.lead,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, row)
    await session.flush()
    return _handler_public(row, 0, now)


async def update_handler(
    *, session: AsyncSession, handler_id: str, request: HandlerUpdate, now: datetime | None = None
) -> HandlerPublic:
    """Change the fields given of a roster entry."""
    row = await repository.get_handler(session, handler_id)
    if row is None:
        raise HandlerNotFound()
    given = request.model_fields_set
    if "token_id" in given:
        await _check_token_free(session, request.token_id, handler_id)
        row.token_id = request.token_id
    if request.label is not None:
        row.label = request.label
    if request.languages is not None:
        row.languages = list(request.languages)
    if request.expertise is not None:
        row.expertise = [c.value for c in request.expertise]
    if request.max_open is not None:
        row.max_open = request.max_open
    if request.available is not None:
        row.available = request.available
    if request.shifts is not None:
        row.shifts = [s.model_dump() for s in request.shifts]
    if request.time_zone is not None:
        row.time_zone = request.time_zone
    if request.lead is not None:
        row.lead = request.lead
    now = now or datetime.now(UTC)
    row.updated_at = now
    await session.flush()
    return _handler_public(row, (await _open_per_handler(session))[handler_id], now)


async def list_handlers(
    *, session: AsyncSession, now: datetime | None = None
) -> list[HandlerPublic]:
    """The roster, by handler id, with each handler's open tickets."""
    counts = await _open_per_handler(session)
    now = now or datetime.now(UTC)
    return [
        _handler_public(h, counts[h.handler_id], now) for h in await repository.handlers(session)
    ]


async def read_handler(
    *, session: AsyncSession, handler_id: str, now: datetime | None = None
) -> HandlerPublic:
    """One roster entry."""
    row = await repository.get_handler(session, handler_id)
    if row is None:
        raise HandlerNotFound()
    counts = await _open_per_handler(session)
    return _handler_public(row, counts[handler_id], now or datetime.now(UTC))


async def workload(*, session: AsyncSession) -> Workload:
    """Open tickets per handler and per priority, and how many nobody holds."""
    load = await repository.open_load(session)
    zero = dict.fromkeys(Priority, 0)

    def by_priority(handler_id: str | None) -> dict[Priority, int]:
        return {**zero, **{Priority(p): n for (h, p), n in load.items() if h == handler_id}}

    rows = []
    for h in await repository.handlers(session):
        counts = by_priority(h.handler_id)
        rows.append(
            HandlerLoad(
                handler_id=h.handler_id,
                label=h.label,
                available=h.available,
                max_open=h.max_open,
                open=sum(counts.values()),
                by_priority=counts,
            )
        )
    unassigned = by_priority(None)
    return Workload(
        handlers=rows, unassigned=sum(unassigned.values()), unassigned_by_priority=unassigned
    )


# --- assignment -------------------------------------------------------------------------


async def _candidates(session: AsyncSession, now: datetime) -> list[Candidate]:
    counts = await _open_per_handler(session)
    return [
        Candidate(
            handler_id=h.handler_id,
            languages=frozenset(h.languages),
            expertise=frozenset(Category(c) for c in h.expertise),
            max_open=h.max_open,
            available=is_on(h, now),
            open_tickets=counts[h.handler_id],
            lead=h.lead,
        )
        for h in await repository.handlers(session)
    ]


async def _set_handler(
    *,
    session: AsyncSession,
    outbox: Table,
    masters: MasterKeyring,
    row: Assignment,
    handler_id: str | None,
    automatic: bool,
    actor_id: str,
    reason: str | None,
    now: datetime,
) -> None:
    """Record a new handler (or none), its history row and `ticket.assigned`, in one go."""
    previous = row.handler_id
    row.handler_id, row.automatic, row.actor_id, row.assigned_at = (
        handler_id,
        automatic,
        actor_id,
        now,
    )
    sealed = await keys.seal_reason(session, masters, row.ticket_id, REASON_KIND, reason)
    repository.add(
        session,
        AssignmentChange(
            ticket_id=row.ticket_id,
            handler_id=handler_id,
            previous_handler_id=previous,
            automatic=automatic,
            actor_id=actor_id,
            reason_sealed=sealed,
            changed_at=now,
        ),
    )
    await add_to_outbox(
        session,
        outbox,
        TicketAssigned(
            ticket_id=row.ticket_id,
            occurred_at=now,
            data=TicketAssignedData(
                handler_id=handler_id,
                previous_handler_id=previous,
                automatic=automatic,
                actor_id=actor_id,
                assigned_at=now,
            ),
        ),
    )


async def auto_assign(
    *,
    session: AsyncSession,
    outbox: Table,
    masters: MasterKeyring,
    record: TriageRecord,
    now: datetime,
) -> str | None:
    """Give a triaged ticket nobody holds to a handler by the rule in domain.choose_handler."""
    row = await repository.get_assignment(session, record.ticket_id)
    if row is None:
        clock = await repository.get_clock(session, record.ticket_id)
        # ticket.closed can arrive before triage: a closed ticket is nobody's load.
        closed = clock is not None and clock.state == ClockState.closed.value
        row = Assignment(
            ticket_id=record.ticket_id,
            handler_id=None,
            open=not closed,
            automatic=True,
            actor_id=AUTOMATIC_ACTOR,
            assigned_at=now,
        )
        repository.add(session, row)
    if row.handler_id is not None or not row.open:
        return row.handler_id
    # The new triage row and assignment must be visible to the load count.
    await session.flush()
    chosen = choose_handler(
        await _candidates(session, now),
        language=record.language,
        category=Category(record.category),
        priority=Priority(record.priority),
    )
    if chosen is not None:
        await _set_handler(
            session=session,
            outbox=outbox,
            masters=masters,
            row=row,
            handler_id=chosen,
            automatic=True,
            actor_id=AUTOMATIC_ACTOR,
            reason=None,
            now=now,
        )
    return chosen


async def assign(
    *,
    session: AsyncSession,
    outbox: Table,
    masters: MasterKeyring,
    ticket_id: uuid.UUID,
    request: AssignmentRequest,
    actor: Principal,
    now: datetime | None = None,
) -> None:
    """A coordinator sets the handler (or none); a handler on the roster takes a free ticket."""
    record = await repository.get(session, ticket_id)
    if record is None:
        raise TriageNotFound()
    if request.handler_id is not None and (
        await repository.get_handler(session, request.handler_id) is None
    ):
        raise HandlerNotFound()
    row = await repository.get_assignment(session, ticket_id)
    current = row.handler_id if row is not None else None
    if actor.scope not in (Scope.coordinator, Scope.admin):
        mine = await repository.handler_of_token(session, actor.token_id)
        if mine is None:
            raise NotOnRoster()
        if request.handler_id != mine.handler_id:
            raise OnlyForThemselves()
        if current not in (None, mine.handler_id):
            raise TicketTaken()
    if current == request.handler_id and row is not None:
        return
    now = now or datetime.now(UTC)
    if row is None:
        row = Assignment(
            ticket_id=ticket_id,
            handler_id=None,
            open=True,
            automatic=False,
            actor_id=actor.token_id,
            assigned_at=now,
        )
        repository.add(session, row)
    await _set_handler(
        session=session,
        outbox=outbox,
        masters=masters,
        row=row,
        handler_id=request.handler_id,
        automatic=False,
        actor_id=actor.token_id,
        reason=request.reason,
        now=now,
    )
    await session.flush()


async def assignment_public(
    *, session: AsyncSession, masters: MasterKeyring | None, ticket_id: uuid.UUID
) -> AssignmentPublic | None:
    """Who holds the ticket, since when, and every change (reasons decrypted with `masters`)."""
    row = await repository.get_assignment(session, ticket_id)
    if row is None:
        return None
    changes = await repository.assignment_changes_of(session, ticket_id)
    key = None
    if masters is not None and any(c.reason_sealed is not None for c in changes):
        key = await keys.ticket_key(session, masters, ticket_id, create=False)
    return AssignmentPublic(
        handler_id=row.handler_id,
        automatic=row.automatic,
        actor_id=row.actor_id,
        assigned_at=row.assigned_at,
        open=row.open,
        history=[
            AssignmentChangePublic(
                handler_id=c.handler_id,
                previous_handler_id=c.previous_handler_id,
                automatic=c.automatic,
                actor_id=c.actor_id,
                reason=keys.open_reason(key, ticket_id, REASON_KIND, c.reason_sealed),
                changed_at=c.changed_at,
            )
            for c in changes
        ],
    )


# --- paging the on-shift lead ---------------------------------------------------------


async def page_lead(
    *,
    session: AsyncSession,
    outbox: Table,
    ticket_id: uuid.UUID,
    priority: Priority,
    now: datetime,
) -> str | None:
    """A ticket became P1: page the on-shift lead (once per ticket) and queue the webhook.

    Stages `lead.paged` even when no lead is on shift (lead_id None), so that someone
    hears of it; the webhook's notice is queued in the same transaction (shared.notify).
    """
    if priority is not Priority.P1 or await repository.get_page(session, ticket_id) is not None:
        return None
    # The ticket's own assignment must count in the leads' load.
    await session.flush()
    lead = choose_lead(await _candidates(session, now))
    repository.add(
        session,
        LeadPage(
            ticket_id=ticket_id,
            lead_id=lead,
            priority=priority.value,
            reason=PAGE_REASON,
            paged_at=now,
        ),
    )
    await queue_notice(
        session,
        NOTICES,
        {
            "type": "sanad.triage.lead.paged",
            "ticket_id": str(ticket_id),
            "priority": priority.value,
            "lead_id": lead,
            "reason": PAGE_REASON,
            "paged_at": now.isoformat(),
        },
        now=now,
    )
    await add_to_outbox(
        session,
        outbox,
        LeadPaged(
            ticket_id=ticket_id,
            occurred_at=now,
            data=LeadPagedData(lead_id=lead, priority=priority, reason=PAGE_REASON, paged_at=now),
        ),
    )
    return lead


# --- the queue ------------------------------------------------------------------------


async def queue(
    *,
    session: AsyncSession,
    actor: Principal,
    handler_id: str | None = None,
    unassigned: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> QueuePage:
    """Open tickets, P1 first, then soonest due (answered ones after), then oldest; audited."""
    rows = await repository.queue(
        session, handler_id=handler_id, unassigned=unassigned, limit=limit + 1, offset=offset
    )
    page, more = rows[:limit], len(rows) > limit
    if page:
        # Ids and priorities are still a read of the cases: audited like intake's list.
        await audit.record(
            session,
            AUDIT_TABLES,
            actor=actor,
            action=audit.Action.read,
            objects=[(audit.ObjectType.ticket, str(r.ticket_id)) for r, _, _ in page],
        )
    return QueuePage(
        items=[
            QueueItem(
                ticket_id=record.ticket_id,
                priority=Priority(record.priority),
                category=Category(record.category),
                needs_review=record.needs_review,
                sla_state=state,
                due_at=due,
                received_at=record.received_at,
                handler_id=holder,
            )
            for record, (state, due), holder in page
        ],
        next_offset=offset + limit if more else None,
    )
