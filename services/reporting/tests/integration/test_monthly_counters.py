"""The monthly counters are the daily ones summed: any range reads the same either way."""

from __future__ import annotations

import random
import uuid
from collections import defaultdict
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from services.reporting import repository
from services.reporting.models import DailyCount, MonthlyCount
from services.reporting.repository import split_by_months
from services.reporting.tests.events import closed, fold
from shared.app import Runtime
from shared.contracts import Category, Envelope, Priority
from shared.testing.events import RECEIVED_AT, requester_erased, ticket_received, ticket_triaged

DIMENSIONS = ("public", "priority", "category", "outcome", "country")


def spread(n: int) -> list[Envelope]:
    """`n` tickets over about five months; some closed, re-triaged or erased later."""
    rng = random.Random(11)
    events: list[Envelope] = []
    for _ in range(n):
        t = uuid.uuid4()
        at = RECEIVED_AT + timedelta(days=rng.randrange(150), minutes=rng.randrange(1440))
        country = rng.choice(["LB", "SY", None])
        events.append(ticket_received(ticket_id=t, received_at=at, country=country))
        for minutes in (5, 50)[: rng.randint(1, 2)]:
            events.append(
                ticket_triaged(
                    ticket_id=t,
                    received_at=at,
                    triaged_at=at + timedelta(minutes=minutes),
                    country=country,
                    priority=rng.choice(list(Priority)),
                    category=rng.choice(list(Category)),
                )
            )
        if rng.random() < 0.5:
            events.append(closed(t, after=at - RECEIVED_AT + timedelta(hours=5)))
        if rng.random() < 0.05:
            events.append(requester_erased(ticket_ids=(t,)))
    rng.shuffle(events)
    return events


async def test_every_range_reads_the_same_from_months_as_from_days(runtime: Runtime) -> None:
    await fold(runtime, spread(300), batch=23)
    rng = random.Random(4)
    first_day = RECEIVED_AT.date()
    async with runtime.sessions() as session:
        daily = (await session.execute(select(DailyCount))).scalars().all()
        monthly = (await session.execute(select(MonthlyCount))).scalars().all()

        summed: dict[tuple[str, date, str], int] = defaultdict(int)
        for row in daily:
            summed[(row.dimension, row.day.replace(day=1), row.value)] += row.n
        assert {k: v for k, v in summed.items() if v} == {
            (m.dimension, m.month, m.value): m.n for m in monthly if m.n
        }

        ranges: list[tuple[date | None, date | None]] = [(None, None)]
        for _ in range(40):
            a = first_day + timedelta(days=rng.randrange(-10, 160))
            b = a + timedelta(days=rng.randrange(0, 120))
            ranges += [(a, b), (None, b), (a, None)]
        for first, last in ranges:
            expected: dict[tuple[str, str], int] = defaultdict(int)
            for row in daily:
                inside = (first is None or row.day >= first) and (last is None or row.day <= last)
                if inside and row.dimension in DIMENSIONS and row.n:
                    expected[(row.dimension, row.value)] += row.n
            found = await repository.totals(session, DIMENSIONS, first, last)
            assert found == dict(expected), (first, last)


@pytest.mark.parametrize(
    ("first", "last", "parts"),
    [
        ("2025-03-14", "2025-05-10", ("03-14..03-31", "04-01..04-01", "05-01..05-10")),
        ("2025-03-01", "2025-03-31", (None, "03-01..03-01", None)),
        ("2025-03-14", "2025-03-20", ("03-14..03-20", None, None)),
        ("2025-03-31", "2025-04-30", ("03-31..03-31", "04-01..04-01", None)),
        (None, "2025-03-20", (None, "..02-01", "03-01..03-20")),
        ("2025-03-02", None, ("03-02..03-31", "04-01..", None)),
    ],
)
def test_a_range_splits_into_days_whole_months_and_days(
    first: str | None, last: str | None, parts: tuple[str | None, ...]
) -> None:
    def day(s: str | None) -> date | None:
        return date.fromisoformat(s) if s else None

    def show(span: tuple[date | None, date | None] | None) -> str | None:
        if span is None:
            return None
        a, b = span
        return f"{a.isoformat()[5:] if a else ''}..{b.isoformat()[5:] if b else ''}"

    assert tuple(show(p) for p in split_by_months(day(first), day(last))) == parts
