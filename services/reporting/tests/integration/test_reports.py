"""Every report through the app on real SQLite: JSON and CSV agree, charts carry the series."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest

from services.reporting import service
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import Category, Channel, Priority, RequesterRole, TicketReceived
from shared.db import transaction
from shared.testing.events import RECEIVED_AT, ticket_received, ticket_triaged
from shared.testing.fixtures import Auth

DAY = RECEIVED_AT.date()


async def tickets(
    runtime: Runtime,
    n: int,
    *,
    days: int = 0,
    category: Category = Category.harassment,
    priority: Priority = Priority.P3,
    role: RequesterRole = RequesterRole.journalist,
    country: str = "LB",
    triaged_first: bool = False,
) -> None:
    """`n` tickets received `days` after RECEIVED_AT, triaged, folded in one batch."""
    at = RECEIVED_AT + timedelta(days=days)
    async with transaction(runtime.writer_sessions) as session:
        for _ in range(n):
            ticket_id = uuid.uuid4()
            received = ticket_received(
                ticket_id=ticket_id,
                received_at=at,
                requester_role=role,
                country=country,
                channel=Channel.signal,
            )
            triaged = ticket_triaged(
                ticket_id=ticket_id,
                category=category,
                priority=priority,
                received_at=at,
                triaged_at=at + timedelta(minutes=5),
                requester_role=role,
                country=country,
                channel=Channel.signal,
            )
            for event in (triaged, received) if triaged_first else (received, triaged):
                if isinstance(event, TicketReceived):
                    await service.record_received(session=session, event=event)
                else:
                    await service.record_triaged(session=session, event=event)


async def get(client: httpx.AsyncClient, auth: Auth, path: str, **params: Any) -> httpx.Response:
    return await client.get(path, params=params, headers=await auth(Scope.analyst))


async def test_the_same_events_in_any_order_give_the_same_figures(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await tickets(runtime, 6, triaged_first=True)
    await tickets(runtime, 7, priority=Priority.P2, category=Category.doxxing)

    body = (await get(client, auth, "/v1/reports/breakdowns/priority")).json()

    assert body["cells"] == {"P2": 7, "P3": 6}
    assert body["total"] == 13


async def test_a_breakdown_withholds_the_cell_that_would_reveal_a_small_one(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await tickets(runtime, 2, category=Category.entrapment, priority=Priority.P1)
    await tickets(runtime, 9, category=Category.harassment)
    await tickets(runtime, 30, category=Category.phishing)

    body = (await get(client, auth, "/v1/reports/breakdowns/category")).json()

    assert body["cells"] == {"entrapment": "<5", "harassment": "x", "phishing": 30}
    assert body["total"] == 41


async def test_the_public_counters_by_month(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await tickets(runtime, 5, role=RequesterRole.journalist)
    await tickets(runtime, 6, role=RequesterRole.activist, days=31)

    body = (await get(client, auth, "/v1/reports/counters", granularity="month")).json()

    assert body["periods"] == ["2025-03", "2025-04"]
    assert body["cells"]["2025-03"]["journalists_assisted"] == 5
    assert body["cells"]["2025-04"]["activists_assisted"] == 6
    assert body["value_totals"]["tickets_received"] == 11


async def test_countries_are_never_counted_by_day(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await tickets(runtime, 5, country="MA")

    series = (await get(client, auth, "/v1/reports/series/country", granularity="day")).json()
    breakdown = (
        await get(client, auth, "/v1/reports/breakdowns/country", **{"from": DAY, "to": DAY})
    ).json()

    assert series["granularity"] == "week"
    assert (breakdown["first_day"], breakdown["last_day"]) == ("2025-03-10", "2025-03-16")


@pytest.mark.parametrize(
    "path",
    [
        "/v1/reports/breakdowns/category",
        "/v1/reports/series/priority",
        "/v1/reports/counters",
        "/v1/reports/durations/first_response",
        "/v1/reports/rates/sla",
        "/v1/reports/referrals",
    ],
)
async def test_csv_parses_back_to_the_json(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth, path: str
) -> None:
    await tickets(runtime, 3, category=Category.threats, priority=Priority.P1)
    await tickets(runtime, 8)

    as_json = (await get(client, auth, path)).json()
    response = await get(client, auth, path, format="csv")

    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    cells = {value for row in rows[1:] for value in row[1:]}
    flat = _published_values(as_json)
    assert cells - {""} == {str(v) for v in flat}


def _published_values(body: dict[str, Any]) -> set[object]:
    if "cells" in body and "periods" not in body:
        return {*body["cells"].values(), body["total"]}
    if "periods" in body:
        found = {v for row in body["cells"].values() for v in row.values()}
        found |= {*body["period_totals"].values(), *body["value_totals"].values()}
        return found | ({body["total"]} if body["period_totals"] else set())
    keys = [k for k in ("count", "hits", "rate", "p50_minutes", "p90_minutes") if k in body]
    return {v for k in keys for v in body[k].values() if v is not None}


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"from": "2025-13-01"}, 422),
        ({"from": "yesterday"}, 422),
        ({"from": "2025-03-10", "to": "2025-03-01"}, 422),
        ({"granularity": "hour"}, 422),
        ({"format": "xml"}, 422),
        ({"from": "2020-01-01", "to": "2025-01-01", "granularity": "day"}, 422),
    ],
)
async def test_bad_ranges_are_problems_not_errors(
    client: httpx.AsyncClient, auth: Auth, params: dict[str, str], status: int
) -> None:
    response = await get(client, auth, "/v1/reports/series/category", **params)

    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"


async def test_a_coordinator_reads_reports_and_a_handler_does_not(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    ok = await client.get("/v1/reports/counters", headers=await auth(Scope.coordinator))
    denied = await client.get("/v1/reports/counters", headers=await auth(Scope.handler))

    assert (ok.status_code, denied.status_code) == (200, 403)


async def test_the_chart_draws_each_series_and_no_hidden_point(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    await tickets(runtime, 6, priority=Priority.P2, category=Category.sextortion)
    await tickets(runtime, 7, priority=Priority.P3, days=7)
    await tickets(runtime, 8, priority=Priority.P3, days=14)

    response = await get(client, auth, "/v1/reports/charts/priority.svg")

    assert response.headers["content-type"] == "image/svg+xml"
    svg = response.text
    assert svg.startswith("<svg")
    assert "<script" not in svg
    assert "http" not in svg.replace("http://www.w3.org/2000/svg", "")
    assert 'data-series="P2"' in svg
    assert 'data-series="P3"' in svg
    assert svg.count("<polyline") >= 2


@pytest.mark.parametrize(
    ("lang", "direction", "word"),
    [("en", "ltr", "Monthly report"), ("ar", "rtl", "التقرير الشهري")],
)
async def test_the_monthly_report_page_carries_its_charts_and_tables(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth, lang: str, direction: str, word: str
) -> None:
    await tickets(runtime, 6, priority=Priority.P2, category=Category.account_compromise)
    await tickets(runtime, 2, priority=Priority.P1, category=Category.threats)

    response = await get(client, auth, "/v1/reports/monthly/2025-03", lang=lang)

    page = response.text
    assert response.headers["content-type"].startswith("text/html")
    assert f'dir="{direction}"' in page
    assert word in page
    assert page.count("<svg") == 4  # priority, category, platform response, referrals
    assert 'data-series="P2"' in page
    assert 'data-series="account_compromise"' in page
    assert "&lt;5" in page  # the two P1 tickets


async def test_the_monthly_report_as_pdf(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    pytest.importorskip("weasyprint")
    await tickets(runtime, 6)

    response = await get(client, auth, "/v1/reports/monthly/2025-03", lang="ar", format="pdf")

    assert response.status_code == 200
    assert response.content.startswith(b"%PDF")
