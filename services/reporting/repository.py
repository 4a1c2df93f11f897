"""Every query reporting makes."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import Connection, event, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from services.reporting.domain import CounterKey, FactState, ticket_counts
from services.reporting.models import DailyCount, TicketFact
from shared.db import table_of

COUNTS = table_of(DailyCount)


FACTS = table_of(TicketFact)
_STAGED = "reporting.staged_changes"
# A change to one ticket's fact, applied in memory at commit time.
Change = Callable[[FactState], None]


def stage(session: AsyncSession, ticket_id: uuid.UUID, change: Change) -> None:
    """Queue a change to a ticket's fact; the batch's changes are written at its commit.

    At the commit: one query reads every fact the batch touches, the changes apply in
    memory, and one upsert writes the facts, one more the counters they moved. A handler
    does no I/O at all, so a fold keeps up with the bus.
    """
    staged: list[tuple[uuid.UUID, Change]] | None = session.info.get(_STAGED)
    if staged is None:
        staged = session.info[_STAGED] = []
        event.listen(session.sync_session, "before_commit", _write_staged)
    staged.append((ticket_id, change))


def _write_staged(session: Session) -> None:
    staged: list[tuple[uuid.UUID, Change]] = session.info.get(_STAGED) or []
    if not staged:
        return
    session.info[_STAGED] = []
    conn = session.connection()
    ids = list({ticket_id for ticket_id, _ in staged})
    found = conn.execute(select(FACTS).where(FACTS.c.ticket_id.in_(ids))).mappings()
    facts = {row["ticket_id"]: FactState(**row) for row in found}
    before = {ticket_id: ticket_counts(fact) for ticket_id, fact in facts.items()}
    for ticket_id, change in staged:
        change(facts.setdefault(ticket_id, FactState(ticket_id=ticket_id)))
    pending: Counter[CounterKey] = Counter()
    for ticket_id, fact in facts.items():
        old, new = before.get(ticket_id, frozenset()), ticket_counts(fact)
        pending.update(dict.fromkeys(new - old, 1))
        pending.subtract(dict.fromkeys(old - new, 1))
    conn.execute(_upsert_facts(conn), [asdict(f) for f in facts.values()])
    _write_pending(conn, pending)


def _upsert_facts(conn: Connection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(FACTS)
    columns = {c.name: stmt.excluded[c.name] for c in FACTS.c if c.name != "ticket_id"}
    return stmt.on_conflict_do_update(index_elements=["ticket_id"], set_=columns)


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
