"""Reporting's use cases: fold events into the read model, answer with protected figures."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import repository
from services.reporting.domain import (
    DURATION_BUCKETS,
    MAX_PARTNER_ID,
    OPEN_BUCKET,
    PUBLIC_COUNTERS,
    RECEIVED_DIMENSIONS,
    REFERRAL_DIRECTIONS,
    REFERRAL_OUTCOMES,
    SLA_TARGET_MINUTES,
    WEEKLY_DIMENSIONS,
    EscalationState,
    FactState,
    Granularity,
    Line,
    ReferralState,
    percentile,
    period_label,
    period_start,
    periods,
    protect,
    protect_grid,
    protect_line,
    whole_periods,
)
from services.reporting.errors import InvalidRange, RangeTooLong
from services.reporting.models import Breakdown, Durations, Rates, Series, Summary
from shared.contracts import (
    Author,
    Envelope,
    EscalationOpened,
    EscalationResolved,
    ReferralDirection,
    ReferralReceived,
    ReferralSent,
    ReferralUpdated,
    RepriorityReason,
    RequesterErased,
    SlaBreached,
    SlaLevel,
    TicketAssigned,
    TicketClosed,
    TicketMessageAdded,
    TicketReceived,
    TicketReprioritised,
    TicketStatusChanged,
    TicketTriaged,
)
from shared.messaging.consumer import PermanentError

MAX_DAILY_DAYS = 400

# --- folding -------------------------------------------------------------------------------


async def record_received(*, session: AsyncSession, event: TicketReceived) -> None:
    """Only the fields a report needs; the sealed text is dropped unread."""
    if event.ticket_id is None:
        raise PermanentError("ticket.received without a ticket id")
    data = event.data

    def change(fact: FactState) -> None:
        fact.channel = data.channel.value
        if not fact.erased:
            fact.requester_role = data.requester_role.value
            fact.country = data.country
        fact.received_at = data.received_at
        fact.received_seen = True

    repository.stage(session, event.ticket_id, change)


async def record_triaged(*, session: AsyncSession, event: TicketTriaged) -> None:
    """The latest triage of a ticket wins, whatever order its events arrive in."""
    if event.ticket_id is None:
        raise PermanentError("ticket.triaged without a ticket id")
    data, event_id = event.data, str(event.event_id)

    def change(fact: FactState) -> None:
        version = (data.triaged_at, event_id)
        if fact.triaged_at is None or version > (fact.triaged_at, fact.triage_event_id or ""):
            fact.language = data.language
            fact.needs_review = data.needs_review
            fact.triaged_at = data.triaged_at
            fact.triage_event_id = event_id
        _classify(fact, version, data.category, data.priority, data.flags)
        if not fact.received_seen:
            # Triage repeats what intake received; intake's own event overwrites it on arrival.
            fact.channel = data.channel.value
            if not fact.erased:
                fact.requester_role = data.requester_role.value
                fact.country = data.country
            fact.received_at = data.received_at

    repository.stage(session, event.ticket_id, change)


async def record_reprioritised(*, session: AsyncSession, event: TicketReprioritised) -> None:
    """The latest classification wins, a handler's or a re-triage's; an override is marked."""
    ticket_id, data = _ticket_of(event), event.data
    version = (data.changed_at, str(event.event_id))

    def change(fact: FactState) -> None:
        _classify(fact, version, data.category, data.priority, data.flags)
        if data.reason is RepriorityReason.override:
            fact.overridden = True

    repository.stage(session, ticket_id, change)


def _classify(
    fact: FactState,
    version: tuple[datetime, str],
    category: StrEnum,
    priority: StrEnum,
    flags: tuple[StrEnum, ...],
) -> None:
    """Category, priority and flags from the latest triage or reprioritisation."""
    current = (fact.classified_at, fact.classification_event_id or "")
    if current[0] is not None and version <= (current[0], current[1]):
        return
    fact.category = category.value
    fact.priority = priority.value
    fact.flags = ",".join(sorted(f.value for f in flags))
    fact.classified_at, fact.classification_event_id = version


async def record_message_added(*, session: AsyncSession, event: TicketMessageAdded) -> None:
    """A handler's first reply to the requester (never a note) is the first response."""
    data = event.data
    if data.author is not Author.handler or data.internal:
        return
    ticket_id = _ticket_of(event)

    def change(fact: FactState) -> None:
        if fact.first_response_at is None or data.added_at < fact.first_response_at:
            fact.first_response_at = data.added_at

    repository.stage(session, ticket_id, change)


async def record_closed(*, session: AsyncSession, event: TicketClosed) -> None:
    """The latest closing of a ticket gives its resolution time and outcome."""
    ticket_id, data = _ticket_of(event), event.data
    version = (data.closed_at, str(event.event_id))

    def change(fact: FactState) -> None:
        if fact.resolved_at is None or version > (fact.resolved_at, fact.closed_event_id or ""):
            fact.resolved_at, fact.closed_event_id = version
            fact.outcome = data.outcome.value
        _set_status(fact, version, "closed")

    repository.stage(session, ticket_id, change)


async def record_status_changed(*, session: AsyncSession, event: TicketStatusChanged) -> None:
    """The latest status change of a ticket is where it stands (an ops gauge, not a report)."""
    ticket_id, data = _ticket_of(event), event.data
    version = (data.changed_at, str(event.event_id))

    def change(fact: FactState) -> None:
        _set_status(fact, version, data.to_status.value)

    repository.stage(session, ticket_id, change)


def _set_status(fact: FactState, version: tuple[datetime, str], status: str) -> None:
    if fact.status_at is None or version > (fact.status_at, fact.status_event_id or ""):
        fact.status = status
        fact.status_at, fact.status_event_id = version


async def record_assigned(*, session: AsyncSession, event: TicketAssigned) -> None:
    """Whether a handler holds the ticket, by the latest assignment; the handler id is dropped."""
    ticket_id, data = _ticket_of(event), event.data
    version = (data.assigned_at, str(event.event_id))

    def change(fact: FactState) -> None:
        if fact.assigned_at is None or version > (fact.assigned_at, fact.assignment_event_id or ""):
            fact.assigned = data.handler_id is not None
            fact.assigned_at, fact.assignment_event_id = version

    repository.stage(session, ticket_id, change)


async def record_sla_breached(*, session: AsyncSession, event: SlaBreached) -> None:
    """A missed first-response target counts once per ticket (warnings and alerts do not)."""
    if event.data.level is not SlaLevel.breached:
        return

    def change(fact: FactState) -> None:
        fact.sla_breached = True

    repository.stage(session, _ticket_of(event), change)


async def record_escalation_opened(*, session: AsyncSession, event: EscalationOpened) -> None:
    """An escalation's platform and opening; its ticket counts as escalated from the first."""
    ticket_id, data = _ticket_of(event), event.data

    def change(fact: EscalationState) -> None:
        fact.ticket_id = ticket_id
        fact.platform = data.platform
        fact.opened_at = data.opened_at

    def escalate(fact: FactState) -> None:
        if fact.escalated_at is None or data.opened_at < fact.escalated_at:
            fact.escalated_at = data.opened_at

    repository.stage_escalation(session, data.escalation_id, change)
    repository.stage(session, ticket_id, escalate)


async def record_escalation_resolved(*, session: AsyncSession, event: EscalationResolved) -> None:
    """An escalation's outcome and platform response time; the latest resolution wins."""
    ticket_id, data = _ticket_of(event), event.data
    version = (data.resolved_at, str(event.event_id))
    answer = data.seconds_to_acknowledgement
    if answer is None:
        answer = data.seconds_to_outcome

    def change(fact: EscalationState) -> None:
        fact.ticket_id = ticket_id
        fact.platform = data.platform
        if fact.resolved_at is None or version > (fact.resolved_at, fact.resolution_event_id or ""):
            fact.resolved_at, fact.resolution_event_id = version
            fact.outcome = data.outcome.value
            fact.submitted_at = data.submitted_at
            fact.responded_at = data.submitted_at + timedelta(seconds=answer)

    repository.stage_escalation(session, data.escalation_id, change)


async def record_erased(*, session: AsyncSession, event: RequesterErased) -> None:
    """Forget role and country of the requester's tickets; the published counters stay."""

    def change(fact: FactState) -> None:
        fact.erased = True
        fact.requester_role = None
        fact.country = None

    for ticket_id in event.data.ticket_ids:
        repository.stage(session, ticket_id, change)


_DIRECTION = {ReferralDirection.outbound: "sent", ReferralDirection.inbound: "received"}


def _partner(partner_id: str) -> str:
    if not partner_id or len(partner_id) > MAX_PARTNER_ID:
        raise PermanentError(f"a partner id must have 1 to {MAX_PARTNER_ID} characters")
    return partner_id


async def record_referral_sent(*, session: AsyncSession, event: ReferralSent) -> None:
    """A partner acknowledged a referral from here: it counts as sent, on that day."""
    data, partner = event.data, _partner(event.data.partner_id)

    def change(fact: ReferralState) -> None:
        fact.ticket_id = event.ticket_id or fact.ticket_id
        fact.partner_id, fact.direction, fact.at = partner, "sent", data.sent_at

    repository.stage_referral(session, data.referral_id, change)


async def record_referral_received(*, session: AsyncSession, event: ReferralReceived) -> None:
    """A partner referred a case here. Only partner and time are kept: never the sealed
    details, and nothing of the person (their ticket counts through intake's events)."""
    data, partner = event.data, _partner(event.data.partner_id)

    def change(fact: ReferralState) -> None:
        fact.ticket_id = event.ticket_id or fact.ticket_id
        fact.partner_id, fact.direction, fact.at = partner, "received", data.received_at

    repository.stage_referral(session, data.referral_id, change)


async def record_referral_updated(*, session: AsyncSession, event: ReferralUpdated) -> None:
    """The latest state wins; the first acceptance is kept for the time to acceptance."""
    data, partner = event.data, _partner(event.data.partner_id)
    version = (data.changed_at, str(event.event_id))

    def change(fact: ReferralState) -> None:
        fact.partner_id, fact.direction = partner, _DIRECTION[data.direction]
        if fact.state_at is None or version > (fact.state_at, fact.state_event_id or ""):
            fact.state = data.state.value
            fact.state_at, fact.state_event_id = version
        if fact.first_changed_at is None or data.changed_at < fact.first_changed_at:
            fact.first_changed_at = data.changed_at
        accepted = data.state.value == "accepted"
        if accepted and (fact.accepted_at is None or data.changed_at < fact.accepted_at):
            fact.accepted_at = data.changed_at

    repository.stage_referral(session, data.referral_id, change)


def _ticket_of(event: Envelope) -> uuid.UUID:
    if event.ticket_id is None:
        raise PermanentError(f"{event.type} without a ticket id")
    return event.ticket_id


# --- figures -------------------------------------------------------------------------------


async def summary(*, session: AsyncSession, threshold: int) -> Summary:
    """All-time tickets received and triaged, and triaged tickets by priority and category."""
    found = await repository.totals(session, ("public", "priority", "category"), None, None)
    values: dict[tuple[str, str], int] = defaultdict(int, found)
    received, triaged = ("public", "tickets_received"), ("public", "tickets_triaged")
    keys = {dim: sorted(k for k in found if k[0] == dim) for dim in ("priority", "category")}
    lines = [Line(triaged, tuple(keys["priority"])), Line(triaged, tuple(keys["category"]))]
    out = protect({received: values[received], triaged: values[triaged], **found}, lines, threshold)
    return Summary(
        tickets_received=out[received],
        tickets_triaged=out[triaged],
        by_priority={k[1]: out[k] for k in keys["priority"]},
        by_category={k[1]: out[k] for k in keys["category"]},
    )


async def breakdown(
    *, session: AsyncSession, dimension: str, first: date | None, last: date | None, threshold: int
) -> Breakdown:
    """Tickets of a range by one dimension; ranges by country widen to whole weeks."""
    first, last = await _window(
        session, first, last, "week" if dimension in WEEKLY_DIMENSIONS else "day"
    )
    found = await repository.totals(session, (dimension, "public"), first, last)
    cells = {value: n for (dim, value), n in found.items() if dim == dimension}
    total_key = "tickets_received" if dimension in RECEIVED_DIMENSIONS else "tickets_triaged"
    total = found.get(("public", total_key), 0) if dimension in _PARTITIONS else sum(cells.values())
    published, published_total = protect_line(cells, total, threshold)
    return Breakdown(
        dimension=dimension, first_day=first, last_day=last, cells=published, total=published_total
    )


_PARTITIONS = frozenset({*RECEIVED_DIMENSIONS, "category", "priority", "language"})


async def series(
    *,
    session: AsyncSession,
    dimension: str,
    first: date | None,
    last: date | None,
    granularity: Granularity,
    threshold: int,
) -> Series:
    """A dimension over time; by country never finer than a week."""
    if dimension in WEEKLY_DIMENSIONS and granularity == "day":
        granularity = "week"
    prefix = "referral" if dimension.startswith("referral") else None
    first, last = await _window(session, first, last, granularity, prefix=prefix)
    if granularity == "day" and (last - first).days >= MAX_DAILY_DAYS:
        raise RangeTooLong(f"a daily series covers at most {MAX_DAILY_DAYS} days")
    starts = periods(first, last, granularity)
    labels = [period_label(s, granularity) for s in starts]
    grid: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    # "referrals": sent and received over time, all partners together.
    sources = ("referral_sent", "referral_received") if dimension == "referrals" else (dimension,)
    for source in sources:
        found = await repository.by_day(
            session, source, first, last, by_month=granularity == "month"
        )
        for day, value, n in found:
            column = source.removeprefix("referral_") if dimension == "referrals" else value
            grid[period_label(period_start(day, granularity), granularity)][column] += n
    if dimension == "public":
        return _counters(grid, labels, first, last, granularity, threshold)
    values = sorted({v for row in grid.values() for v in row})
    if dimension == "referrals":
        values = list(REFERRAL_DIRECTIONS)
    out = protect_grid(grid, labels, values, threshold)
    return Series(
        dimension=dimension,
        granularity=granularity,
        first_day=first,
        last_day=last,
        periods=labels,
        values=values,
        cells=out.cells,
        period_totals=out.row_totals,
        value_totals=out.column_totals,
        total=out.total,
    )


def _counters(
    grid: dict[str, dict[str, int]],
    labels: list[str],
    first: date,
    last: date,
    granularity: Granularity,
    threshold: int,
) -> Series:
    """The public counters: each its own column with its own total (they overlap)."""
    values: dict[tuple[str, str], int] = {}
    lines = []
    for counter in PUBLIC_COUNTERS:
        for label in labels:
            values[(label, counter)] = grid.get(label, {}).get(counter, 0)
        values[("", counter)] = sum(values[(label, counter)] for label in labels)
        lines.append(Line(("", counter), tuple((label, counter) for label in labels)))
    out = protect(values, lines, threshold)
    return Series(
        dimension="public",
        granularity=granularity,
        first_day=first,
        last_day=last,
        periods=labels,
        values=list(PUBLIC_COUNTERS),
        cells={label: {c: out[(label, c)] for c in PUBLIC_COUNTERS} for label in labels},
        period_totals={},
        value_totals={c: out[("", c)] for c in PUBLIC_COUNTERS},
        total=out[("", "tickets_received")],
    )


async def durations(
    *, session: AsyncSession, figure: str, first: date | None, last: date | None, threshold: int
) -> Durations:
    """p50 and p90 of `first_response`, `resolution` (per priority) or `platform_response`."""
    first, last = await _window(session, first, last, "day")
    keys = (
        list(SLA_TARGET_MINUTES)
        if figure != "platform_response"
        else await _suffixes(session, "platform", first, last)
    )
    found = await repository.totals(session, [f"{figure}:{k}" for k in keys], first, last)
    hist: dict[str, dict[str, int]] = {k: {} for k in keys}
    for (dim, bucket), n in found.items():
        hist[dim.split(":", 1)[1]][bucket] = n
    return _durations(figure, hist, keys, first, last, threshold)


async def rates(
    *, session: AsyncSession, figure: str, first: date | None, last: date | None, threshold: int
) -> Rates:
    """`sla` (first response within target, per priority) or `override` (per category)."""
    first, last = await _window(session, first, last, "day")
    if figure == "sla":
        keys = list(SLA_TARGET_MINUTES)
        found = await repository.totals(session, [f"sla:{k}" for k in keys], first, last)
        hits = {k: found.get((f"sla:{k}", "met"), 0) for k in keys}
        counts = {k: hits[k] + found.get((f"sla:{k}", "missed"), 0) for k in keys}
    else:
        found = await repository.totals(session, ("category", "override"), first, last)
        counts = {v: n for (d, v), n in found.items() if d == "category"}
        hits = {v: found.get(("override", v), 0) for v in counts}
    shown_counts, _ = protect_line(counts, sum(counts.values()), threshold)
    shown_hits, _ = protect_line(hits, sum(hits.values()), threshold)
    return Rates(
        figure=figure,
        first_day=first,
        last_day=last,
        count=shown_counts,
        hits=shown_hits,
        rate={
            k: round(hits[k] / counts[k], 3)
            if isinstance(shown_hits[k], int) and isinstance(shown_counts[k], int) and counts[k]
            else None
            for k in counts
        },
    )


async def referrals(
    *, session: AsyncSession, first: date | None, last: date | None, threshold: int
) -> Series:
    """Referrals per partner, sent and received, as a partners x direction table."""
    first, last = await _window(session, first, last, "day", prefix="referral")
    found = await repository.totals(session, ("referral_sent", "referral_received"), first, last)
    grid: dict[str, dict[str, int]] = defaultdict(dict)
    for (dim, partner), n in found.items():
        grid[partner][dim.removeprefix("referral_")] = n
    partners, directions = sorted(grid), list(REFERRAL_DIRECTIONS)
    return _grid_series("referrals", grid, partners, directions, first, last, threshold)


async def referral_outcomes(
    *,
    session: AsyncSession,
    direction: str,
    first: date | None,
    last: date | None,
    threshold: int,
) -> Series:
    """Referrals of one direction by partner and where they stand now (open, accepted, ...)."""
    first, last = await _window(session, first, last, "day", prefix="referral")
    prefix = f"referral_outcome:{direction}:"
    found = await repository.totals(session, [prefix + o for o in REFERRAL_OUTCOMES], first, last)
    grid: dict[str, dict[str, int]] = defaultdict(dict)
    for (dim, partner), n in found.items():
        grid[partner][dim.removeprefix(prefix)] = n
    partners = sorted(grid)
    dimension = f"referral_outcomes:{direction}"
    return _grid_series(dimension, grid, partners, list(REFERRAL_OUTCOMES), first, last, threshold)


def _grid_series(
    dimension: str,
    grid: dict[str, dict[str, int]],
    rows: list[str],
    columns: list[str],
    first: date,
    last: date,
    threshold: int,
) -> Series:
    """A table that is not over time (rows are partners), in the shape of a series."""
    out = protect_grid(grid, rows, columns, threshold)
    return Series(
        dimension=dimension,
        granularity="day",
        first_day=first,
        last_day=last,
        periods=rows,
        values=columns,
        cells=out.cells,
        period_totals=out.row_totals,
        value_totals=out.column_totals,
        total=out.total,
    )


async def referral_acceptance(
    *,
    session: AsyncSession,
    direction: str,
    first: date | None,
    last: date | None,
    threshold: int,
) -> Durations:
    """Time from a referral reaching its partner (or us) to its acceptance, per partner."""
    first, last = await _window(session, first, last, "day", prefix="referral")
    prefix = f"referral_acceptance:{direction}:"
    bounds = [*(str(b) for b in DURATION_BUCKETS), OPEN_BUCKET]
    found = await repository.totals(session, [prefix + b for b in bounds], first, last)
    hist: dict[str, dict[str, int]] = defaultdict(dict)
    for (dim, partner), n in found.items():
        hist[partner][dim.removeprefix(prefix)] = n
    figure = f"referral_acceptance:{direction}"
    return _durations(figure, hist, sorted(hist), first, last, threshold)


def _durations(
    figure: str,
    hist: dict[str, dict[str, int]],
    keys: list[str],
    first: date,
    last: date,
    threshold: int,
) -> Durations:
    """Counts protected together; percentiles only where the count itself is published."""
    counts = {k: sum(hist.get(k, {}).values()) for k in keys}
    shown = {k for k, v in counts.items() if v >= threshold}
    published, _ = protect_line(counts, sum(counts.values()), threshold)
    return Durations(
        figure=figure,
        first_day=first,
        last_day=last,
        count=published,
        p50_minutes={k: percentile(hist.get(k, {}), 0.5) if k in shown else None for k in keys},
        p90_minutes={k: percentile(hist.get(k, {}), 0.9) if k in shown else None for k in keys},
    )


async def _suffixes(session: AsyncSession, dimension: str, first: date, last: date) -> list[str]:
    found = await repository.totals(session, (dimension,), first, last)
    return sorted(value for _, value in found)


async def _window(
    session: AsyncSession,
    first: date | None,
    last: date | None,
    granularity: Granularity,
    *,
    prefix: str | None = None,
) -> tuple[date, date]:
    """The range asked for, defaulting to all the data (of tickets, or of the counters named
    `prefix`...), widened to whole periods if need be."""
    if first is None or last is None:
        known_first, known_last = await repository.days_with_data(session, prefix)
        today = date.today()
        first = first or known_first or today
        last = last or known_last or today
    if first > last:
        raise InvalidRange("from must not be after to")
    return whole_periods(first, last, granularity)
