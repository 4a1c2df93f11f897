"""Every query reporting makes."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import Connection, delete, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.reporting.domain import (
    CounterKey,
    EscalationState,
    FactState,
    escalation_counts,
    frozen_on_erasure,
    ticket_counts,
)
from services.reporting.models import DailyCount, EscalationFact, ReferralFact, TicketFact
from shared.db import table_of

COUNTS = table_of(DailyCount)


FACTS = table_of(TicketFact)
ESCALATIONS = table_of(EscalationFact)
_STAGED = "reporting.staged_changes"
_STAGED_ESCALATIONS = "reporting.staged_escalations"
# A change to one ticket's fact, applied in memory at commit time.
Change = Callable[[FactState], None]
EscalationChange = Callable[[EscalationState], None]


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


def _staged(session: AsyncSession, key: str) -> list[Any]:
    if _STAGED not in session.info:
        session.info[_STAGED] = []
        session.info[_STAGED_ESCALATIONS] = []
        event.listen(session.sync_session, "before_commit", _write_staged)
    staged: list[Any] = session.info[key]
    return staged


def _write_staged(session: Session) -> None:
    staged: list[tuple[uuid.UUID, Change]] = session.info.get(_STAGED) or []
    escalations: list[tuple[uuid.UUID, EscalationChange]] = (
        session.info.get(_STAGED_ESCALATIONS) or []
    )
    session.info[_STAGED], session.info[_STAGED_ESCALATIONS] = [], []
    pending: Counter[CounterKey] = Counter()
    conn = session.connection()
    if staged:
        _write_facts(conn, staged, pending)
    if escalations:
        _write_escalations(conn, escalations, pending)
    _write_pending(conn, pending)


def _write_facts(
    conn: Connection, staged: list[tuple[uuid.UUID, Change]], pending: Counter[CounterKey]
) -> None:
    ids = list({ticket_id for ticket_id, _ in staged})
    found = conn.execute(select(FACTS).where(FACTS.c.ticket_id.in_(ids))).mappings()
    facts = {row["ticket_id"]: FactState(**row) for row in found}
    before = {ticket_id: ticket_counts(fact) for ticket_id, fact in facts.items()}
    for ticket_id, change in staged:
        change(facts.setdefault(ticket_id, FactState(ticket_id=ticket_id)))
    for ticket_id, fact in facts.items():
        old, new = before.get(ticket_id, frozenset()), ticket_counts(fact)
        if fact.erased:
            # What an erased ticket counted towards by role and country stays as published.
            old = frozenset(k for k in old if not frozen_on_erasure(k))
            new = frozenset(k for k in new if not frozen_on_erasure(k))
        pending.update(dict.fromkeys(new - old, 1))
        pending.subtract(dict.fromkeys(old - new, 1))
    conn.execute(_upsert_rows(conn, FACTS, "ticket_id"), [asdict(f) for f in facts.values()])


def _write_escalations(
    conn: Connection,
    staged: list[tuple[uuid.UUID, EscalationChange]],
    pending: Counter[CounterKey],
) -> None:
    ids = list({escalation_id for escalation_id, _ in staged})
    found = conn.execute(select(ESCALATIONS).where(ESCALATIONS.c.escalation_id.in_(ids)))
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
    rows = [asdict(f) for f in facts.values()]
    conn.execute(_upsert_rows(conn, ESCALATIONS, "escalation_id"), rows)


def _upsert_rows(conn: Connection, table: Any, key: str) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(table)
    columns = {c.name: stmt.excluded[c.name] for c in table.c if c.name != key}
    return stmt.on_conflict_do_update(index_elements=[key], set_=columns)


def _write_pending(conn: Connection, pending: Counter[CounterKey]) -> None:
    rows = [
        {"day": day, "dimension": dim, "value": value, "n": n}
        for (day, dim, value), n in pending.items()
        if n
    ]
    if rows:
        conn.execute(_upsert(conn), rows)


def _upsert(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(COUNTS)
    return stmt.on_conflict_do_update(
        index_elements=["dimension", "day", "value"], set_={"n": COUNTS.c.n + stmt.excluded.n}
    )


async def totals(
    session: AsyncSession, dimensions: Sequence[str], first: date | None, last: date | None
) -> dict[tuple[str, str], int]:
    """Counters summed over a range of days, by (dimension, value)."""
    query = (
        select(COUNTS.c.dimension, COUNTS.c.value, func.sum(COUNTS.c.n))
        .where(COUNTS.c.dimension.in_(dimensions))
        .group_by(COUNTS.c.dimension, COUNTS.c.value)
    )
    query = _in_range(query, first, last)
    rows = (await session.execute(query)).all()
    return {(dim, value): int(n) for dim, value, n in rows if n}


async def by_day(
    session: AsyncSession, dimension: str, first: date, last: date
) -> list[tuple[date, str, int]]:
    """One dimension's counters, day by day."""
    query = select(COUNTS.c.day, COUNTS.c.value, COUNTS.c.n).where(COUNTS.c.dimension == dimension)
    rows = (await session.execute(_in_range(query, first, last))).all()
    return [(day, value, int(n)) for day, value, n in rows if n]


def _in_range(query: Any, first: date | None, last: date | None) -> Any:
    if first is not None:
        query = query.where(COUNTS.c.day >= first)
    if last is not None:
        query = query.where(COUNTS.c.day <= last)
    return query


async def days_with_data(session: AsyncSession) -> tuple[date | None, date | None]:
    query = select(func.min(COUNTS.c.day), func.max(COUNTS.c.day)).where(
        COUNTS.c.dimension == "public"
    )
    first, last = (await session.execute(query)).one()
    return first, last


async def clear_read_model(session: AsyncSession) -> None:
    """Delete every fact and counter (the inbox stays: it is the live consumers' memory)."""
    for table in (FACTS, ESCALATIONS, table_of(ReferralFact), COUNTS):
        await session.execute(delete(table))
