"""Every query reporting makes."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, bindparam, delete, event, func, select, union_all
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.reporting.domain import (
    CounterKey,
    EscalationState,
    FactState,
    GaugeKey,
    ReferralState,
    escalation_counts,
    frozen_on_erasure,
    referral_counts,
    ticket_counts,
    ticket_gauges,
)
from services.reporting.models import (
    DailyCount,
    EscalationFact,
    MonthlyCount,
    ReferralFact,
    StateCount,
    TicketFact,
)
from shared.db import table_of

COUNTS = table_of(DailyCount)
MONTHS = table_of(MonthlyCount)
GAUGES = table_of(StateCount)


FACTS = table_of(TicketFact)
ESCALATIONS = table_of(EscalationFact)
REFERRALS = table_of(ReferralFact)
# The facts of a batch by their ids, one statement per table, built once.
_BY_ID = {
    table.name: select(table).where(table.c[key].in_(bindparam("ids", expanding=True)))
    for table, key in (
        (FACTS, "ticket_id"),
        (ESCALATIONS, "escalation_id"),
        (REFERRALS, "referral_id"),
    )
}
_STAGED = "reporting.staged_changes"
_STAGED_ESCALATIONS = "reporting.staged_escalations"
_STAGED_REFERRALS = "reporting.staged_referrals"
# A change to one ticket's fact, applied in memory at commit time.
Change = Callable[[FactState], None]
EscalationChange = Callable[[EscalationState], None]
ReferralChange = Callable[[ReferralState], None]


def stage(session: AsyncSession, ticket_id: uuid.UUID, change: Change) -> None:
    """Queue a change to a ticket's fact; the batch's changes are written at its commit.

    At the commit: one query reads every fact the batch touches, the changes apply in
    memory, and one upsert writes the facts, one more the counters they moved. A handler
    does no I/O at all, so a fold keeps up with the bus.
    """
    _staged(session, _STAGED).append((ticket_id, change))


def stage_escalation(
    session: AsyncSession, escalation_id: uuid.UUID, change: EscalationChange
) -> None:
    """Queue a change to an escalation's fact, written with the batch like `stage`."""
    _staged(session, _STAGED_ESCALATIONS).append((escalation_id, change))


def stage_referral(session: AsyncSession, referral_id: uuid.UUID, change: ReferralChange) -> None:
    """Queue a change to a referral's fact, written with the batch like `stage`."""
    _staged(session, _STAGED_REFERRALS).append((referral_id, change))


def _staged(session: AsyncSession, key: str) -> list[Any]:
    if _STAGED not in session.info:
        for name in (_STAGED, _STAGED_ESCALATIONS, _STAGED_REFERRALS):
            session.info[name] = []
        event.listen(session.sync_session, "before_commit", _write_staged)
    staged: list[Any] = session.info[key]
    return staged


def _write_staged(session: Session) -> None:
    staged: list[tuple[uuid.UUID, Change]] = session.info.get(_STAGED) or []
    escalations: list[tuple[uuid.UUID, EscalationChange]] = (
        session.info.get(_STAGED_ESCALATIONS) or []
    )
    referrals: list[tuple[uuid.UUID, ReferralChange]] = session.info.get(_STAGED_REFERRALS) or []
    for name in (_STAGED, _STAGED_ESCALATIONS, _STAGED_REFERRALS):
        session.info[name] = []
    pending: Counter[CounterKey] = Counter()
    gauges: Counter[GaugeKey] = Counter()
    conn = session.connection()
    if staged:
        _write_facts(conn, staged, pending, gauges)
    if escalations:
        _write_escalations(conn, escalations, pending)
    if referrals:
        _write_referrals(conn, referrals, pending)
    _write_pending(conn, pending)
    _write_gauges(conn, gauges)


def _write_facts(
    conn: Connection,
    staged: list[tuple[uuid.UUID, Change]],
    pending: Counter[CounterKey],
    gauges: Counter[GaugeKey],
) -> None:
    ids = list({ticket_id for ticket_id, _ in staged})
    found = conn.execute(_BY_ID[FACTS.name], {"ids": ids}).mappings()
    facts = {row["ticket_id"]: FactState(**row) for row in found}
    before = {
        ticket_id: (ticket_counts(fact), ticket_gauges(fact)) for ticket_id, fact in facts.items()
    }
    for ticket_id, change in staged:
        change(facts.setdefault(ticket_id, FactState(ticket_id=ticket_id)))
    nothing: tuple[frozenset[CounterKey], frozenset[GaugeKey]] = (frozenset(), frozenset())
    for ticket_id, fact in facts.items():
        (old, old_gauges), new = before.get(ticket_id, nothing), ticket_counts(fact)
        if fact.erased:
            # What an erased ticket counted towards by role and country stays as published.
            old = frozenset(k for k in old if not frozen_on_erasure(k))
            new = frozenset(k for k in new if not frozen_on_erasure(k))
        pending.update(dict.fromkeys(new - old, 1))
        pending.subtract(dict.fromkeys(old - new, 1))
        new_gauges = ticket_gauges(fact)
        gauges.update(dict.fromkeys(new_gauges - old_gauges, 1))
        gauges.subtract(dict.fromkeys(old_gauges - new_gauges, 1))
    conn.execute(_upsert_rows(conn, FACTS, "ticket_id"), _rows(facts.values()))


def _write_escalations(
    conn: Connection,
    staged: list[tuple[uuid.UUID, EscalationChange]],
    pending: Counter[CounterKey],
) -> None:
    ids = list({escalation_id for escalation_id, _ in staged})
    found = conn.execute(_BY_ID[ESCALATIONS.name], {"ids": ids})
    facts = {row["escalation_id"]: EscalationState(**row) for row in found.mappings()}
    before = {key: escalation_counts(fact) for key, fact in facts.items()}
    for escalation_id, change in staged:
        change(
            facts.setdefault(
                escalation_id, EscalationState(escalation_id=escalation_id, ticket_id=None)
            )
        )
    for key, fact in facts.items():
        old, new = before.get(key, frozenset()), escalation_counts(fact)
        pending.update(dict.fromkeys(new - old, 1))
        pending.subtract(dict.fromkeys(old - new, 1))
    rows = _rows(facts.values())
    conn.execute(_upsert_rows(conn, ESCALATIONS, "escalation_id"), rows)


def _write_referrals(
    conn: Connection,
    staged: list[tuple[uuid.UUID, ReferralChange]],
    pending: Counter[CounterKey],
) -> None:
    ids = list({referral_id for referral_id, _ in staged})
    found = conn.execute(_BY_ID[REFERRALS.name], {"ids": ids})
    facts = {row["referral_id"]: ReferralState(**row) for row in found.mappings()}
    before = {key: referral_counts(fact) for key, fact in facts.items()}
    for referral_id, change in staged:
        change(facts.setdefault(referral_id, ReferralState(referral_id=referral_id)))
    for key, fact in facts.items():
        old, new = before.get(key, frozenset()), referral_counts(fact)
        pending.update(dict.fromkeys(new - old, 1))
        pending.subtract(dict.fromkeys(old - new, 1))
    rows = _rows(facts.values())
    conn.execute(_upsert_rows(conn, REFERRALS, "referral_id"), rows)


def _rows(facts: Iterable[Any]) -> list[dict[str, Any]]:
    """The facts as rows: a shallow copy of each (asdict would deep-copy every UUID and
    datetime, and that was a third of a batch's time)."""
    return [dict(vars(f)) for f in facts]


# Upserts built once per dialect and table: building one is half the cost of running it.
_STATEMENTS: dict[tuple[str, str, str], Any] = {}


def _upsert_rows(conn: Connection, table: Any, key: str) -> Any:
    """Insert rows, or replace every column of the row with the same `key`."""

    def build(stmt: Any) -> Any:
        columns = {c.name: stmt.excluded[c.name] for c in table.c if c.name != key}
        return stmt.on_conflict_do_update(index_elements=[key], set_=columns)

    return _statement(conn, table, "replace", build)


def _add_to(conn: Connection, table: Any, *keys: str) -> Any:
    """Insert counts, or add them to the row with the same `keys`."""

    def build(stmt: Any) -> Any:
        return stmt.on_conflict_do_update(
            index_elements=list(keys), set_={"n": table.c.n + stmt.excluded.n}
        )

    return _statement(conn, table, "add", build)


def _statement(conn: Connection, table: Any, kind: str, build: Callable[[Any], Any]) -> Any:
    cache_key = (conn.dialect.name, table.name, kind)
    if cache_key not in _STATEMENTS:
        dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
        _STATEMENTS[cache_key] = build(dialect.insert(table))
    return _STATEMENTS[cache_key]


def _write_pending(conn: Connection, pending: Counter[CounterKey]) -> None:
    """Add the batch's changes to the daily counters and to their months."""
    months: Counter[CounterKey] = Counter()
    for (day, dim, value), n in pending.items():
        months[(day.replace(day=1), dim, value)] += n
    for table, period, changes in ((COUNTS, "day", pending), (MONTHS, "month", months)):
        rows = [
            {period: p, "dimension": d, "value": v, "n": n} for (p, d, v), n in changes.items() if n
        ]
        if rows:
            conn.execute(_add_to(conn, table, "dimension", period, "value"), rows)


def _write_gauges(conn: Connection, gauges: Counter[GaugeKey]) -> None:
    rows = [{"name": name, "value": value, "n": n} for (name, value), n in gauges.items() if n]
    if rows:
        conn.execute(_add_to(conn, GAUGES, "name", "value"), rows)


async def totals(
    session: AsyncSession, dimensions: Sequence[str], first: date | None, last: date | None
) -> dict[tuple[str, str], int]:
    """Counters summed over a range of days, by (dimension, value).

    The whole months of the range are read from the monthly counters, the days before the
    first and after the last whole month from the daily ones, in one query.
    """
    head, months, tail = split_by_months(first, last)
    parts = []
    if months is not None:
        parts.append(_part(MONTHS, MONTHS.c.month, dimensions, *months))
    for days in (head, tail):
        if days is not None:
            parts.append(_part(COUNTS, COUNTS.c.day, dimensions, *days))
    if len(parts) == 1:
        (only,) = parts
        sub = only.subquery()
    else:
        sub = union_all(*parts).subquery()
    query = select(sub.c.dimension, sub.c.value, func.sum(sub.c.n)).group_by(
        sub.c.dimension, sub.c.value
    )
    rows = (await session.execute(query)).all()
    return {(dim, value): int(n) for dim, value, n in rows if n}


Span = tuple[date | None, date | None]


def split_by_months(
    first: date | None, last: date | None
) -> tuple[Span | None, Span | None, Span | None]:
    """[first, last] as (days before the whole months, the whole months by their first days,
    days after them); None for an empty part. An open end counts as whole months."""
    start = first if first is None or first.day == 1 else _next_month(first)
    # The first day after the last whole month.
    stop = None
    if last is not None:
        stop = _next_month(last) if _next_month(last) - timedelta(days=1) == last else last
        stop = stop.replace(day=1)
    if start is not None and stop is not None and start >= stop:
        return (first, last), None, None
    head = (first, start - timedelta(days=1)) if first and start and start != first else None
    tail = (stop, last) if last and stop and stop <= last else None
    months = (start, None if stop is None else (stop - timedelta(days=1)).replace(day=1))
    return head, months, tail


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _part(
    table: Any, period: Any, dimensions: Sequence[str], first: date | None, last: date | None
) -> Any:
    query = select(table.c.dimension, table.c.value, table.c.n).where(
        table.c.dimension.in_(dimensions)
    )
    if first is not None:
        query = query.where(period >= first)
    if last is not None:
        query = query.where(period <= last)
    return query


async def by_day(
    session: AsyncSession, dimension: str, first: date, last: date, *, by_month: bool = False
) -> list[tuple[date, str, int]]:
    """One dimension's counters, day by day (or month by month, dated by their first day,
    for a range of whole months)."""
    table, period = (MONTHS, MONTHS.c.month) if by_month else (COUNTS, COUNTS.c.day)
    query = select(period, table.c.value, table.c.n).where(table.c.dimension == dimension)
    if by_month:
        first = first.replace(day=1)
    rows = (await session.execute(query.where(period >= first, period <= last))).all()
    return [(day, value, int(n)) for day, value, n in rows if n]


async def days_with_data(
    session: AsyncSession, prefix: str | None = None
) -> tuple[date | None, date | None]:
    """The first and last day with tickets, or with counters whose dimension starts with
    `prefix` (a range on the primary key, so it reads no more than those counters)."""
    query = select(func.min(COUNTS.c.day), func.max(COUNTS.c.day))
    if prefix is None:
        query = query.where(COUNTS.c.dimension == "public")
    else:
        query = query.where(COUNTS.c.dimension >= prefix, COUNTS.c.dimension < prefix + "\uffff")
    first, last = (await session.execute(query)).one()
    return first, last


async def gauges(session: AsyncSession) -> dict[GaugeKey, int]:
    """The tickets as they stand now, by (gauge, label value)."""
    rows = (await session.execute(select(GAUGES.c.name, GAUGES.c.value, GAUGES.c.n))).all()
    return {(name, value): int(n) for name, value, n in rows if n}


async def clear_read_model(session: AsyncSession) -> None:
    """Delete every fact and counter (the inbox stays: it is the live consumers' memory)."""
    for table in (FACTS, ESCALATIONS, REFERRALS, COUNTS, MONTHS, GAUGES):
        await session.execute(delete(table))
