"""The monthly report's charts, rendered and read back: each holds every one of its series."""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import timedelta

import httpx
import pytest

from services.reporting.tests.events import (
    escalation_opened,
    escalation_resolved,
    fold,
    referral_received,
    referral_sent,
)
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import Category, Envelope, Priority
from shared.testing.events import RECEIVED_AT, ticket_received, ticket_triaged
from shared.testing.fixtures import Auth

SVG = "{http://www.w3.org/2000/svg}"
MIN, DAY = timedelta(minutes=1), timedelta(days=1)
CATEGORIES = (Category.account_compromise, Category.doxxing, Category.threats, Category.phishing)
PLATFORMS = ("meta", "tiktok", "x")


def month_of_events() -> list[Envelope]:
    """Two days of tickets: every priority and four categories at least five times a day,
    escalations to three platforms, referrals sent and received on both days."""
    events: list[Envelope] = []
    for day in range(2):
        at = RECEIVED_AT + day * DAY
        for i in range(40):
            t = uuid.uuid4()
            events += [
                ticket_received(ticket_id=t, received_at=at),
                ticket_triaged(
                    ticket_id=t,
                    priority=list(Priority)[i % 4],
                    category=CATEGORIES[i // 10],
                    received_at=at,
                    triaged_at=at + 5 * MIN,
                ),
            ]
            if i < 15:
                e, platform = uuid.uuid4(), PLATFORMS[i % 3]
                after = day * DAY + 30 * MIN
                events += [
                    escalation_opened(t, e, platform=platform, after=after),
                    escalation_resolved(
                        t,
                        e,
                        platform=platform,
                        submitted=RECEIVED_AT + after,
                        answered_after=(20 + 60 * (i % 3)) * MIN,
                        resolved_after=600 * MIN,
                    ),
                ]
        for _ in range(6):
            events.append(referral_sent(uuid.uuid4(), partner="partner-a", after=day * DAY + MIN))
            events.append(referral_received(uuid.uuid4(), partner="partner-b", after=day * DAY))
    return events


def parse(svg: str) -> ET.Element:
    # The service's own output, made in this test: not the untrusted XML S314 is about.
    return ET.fromstring(svg)  # noqa: S314


def charts(page: str) -> list[ET.Element]:
    return [parse(svg) for svg in re.findall(r"<svg.*?</svg>", page, flags=re.S)]


def series(chart: ET.Element) -> dict[str, ET.Element]:
    return {g.attrib["data-series"]: g for g in chart.iter(f"{SVG}g") if "data-series" in g.attrib}


def polyline_points(group: ET.Element) -> int:
    return sum(len(p.attrib["points"].split()) for p in group.iter(f"{SVG}polyline"))


@pytest.mark.parametrize("lang", ["en", "ar"])
async def test_every_chart_of_the_monthly_report_carries_all_its_series(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth, lang: str
) -> None:
    await fold(runtime, month_of_events())

    response = await client.get(
        "/v1/reports/monthly/2025-03", params={"lang": lang}, headers=await auth(Scope.analyst)
    )

    assert response.status_code == 200
    priority, category, platform, referrals = charts(response.text)
    # Tickets per day by priority and by category: a line through the 31 days per value.
    assert set(series(priority)) == {p.value for p in Priority}
    assert all(polyline_points(g) == 31 for g in series(priority).values())
    assert set(series(category)) == {c.value for c in CATEGORIES}
    assert all(polyline_points(g) == 31 for g in series(category).values())
    # Platform response times: a p50 and a p90 bar for every platform.
    bars = series(platform)
    assert set(bars) == {"p50", "p90"}
    for group in bars.values():
        assert {r.attrib["data-key"] for r in group.iter(f"{SVG}rect")} == set(PLATFORMS)
    axis = {t.text for t in platform.iter(f"{SVG}text")}
    assert set(PLATFORMS) <= axis
    # Referrals sent and received per day.
    assert set(series(referrals)) == {"sent", "received"}
    assert all(polyline_points(g) == 31 for g in series(referrals).values())


async def test_a_chart_leaves_out_what_is_withheld(
    runtime: Runtime, client: httpx.AsyncClient, auth: Auth
) -> None:
    events = month_of_events()
    # Two referrals from a third partner on a third day: "<5", never drawn at a height.
    extra = RECEIVED_AT + 2 * DAY
    events += [referral_received(uuid.uuid4(), partner="partner-c", after=extra - RECEIVED_AT)]
    events += [referral_received(uuid.uuid4(), partner="partner-c", after=extra - RECEIVED_AT)]
    await fold(runtime, events)

    params = {"granularity": "day"}
    headers = await auth(Scope.analyst)
    svg = await client.get("/v1/reports/charts/referrals.svg", params=params, headers=headers)
    table = (
        await client.get("/v1/reports/series/referrals", params=params, headers=headers)
    ).json()

    drawn = series(parse(svg.text))
    for direction in ("sent", "received"):
        column = [table["cells"][p][direction] for p in table["periods"]]
        shown = sum(isinstance(c, int) for c in column)
        assert polyline_points(drawn[direction]) == shown
    assert table["cells"][table["periods"][2]]["received"] == "<5"
    assert len(table["periods"]) == 3
