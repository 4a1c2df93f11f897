"""Reporting's HTTP routes: every figure as JSON or CSV, charts as SVG, the monthly report."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from services.reporting import report, service
from services.reporting.charts import line_chart
from services.reporting.deps import (
    AnalystDep,
    FormatDep,
    FromDep,
    ReadSessionDep,
    ThresholdDep,
    ToDep,
)
from services.reporting.domain import Granularity
from services.reporting.exports import Report, to_csv
from services.reporting.models import Breakdown, Durations, Rates, Series, Summary

router = APIRouter(prefix="/v1", tags=["reports"])

BreakdownDimension = Literal[
    "category",
    "priority",
    "channel",
    "language",
    "requester_role",
    "country",
    "flag",
    "platform",
    "outcome",
    "sla_breached",
]
SeriesDimension = Literal[BreakdownDimension, "public"]
ChartDimension = Literal["priority", "category"]


def _answer(report: Report, fmt: str) -> Report | Response:
    if fmt == "csv":
        return Response(to_csv(report), media_type="text/csv; charset=utf-8")
    return report


@router.get("/metrics/summary", response_model=Summary)
async def get_summary(session: ReadSessionDep, _: AnalystDep, threshold: ThresholdDep) -> Summary:
    """All-time tickets received and triaged, by priority and category, small counts hidden."""
    return await service.summary(session=session, threshold=threshold)


@router.get("/reports/counters", response_model=Series)
async def get_counters(
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    granularity: Granularity = "month",
    format: FormatDep = "json",
) -> Report | Response:
    """The public counters (tickets received and escalated, journalists and activists assisted)."""
    found = await service.series(
        session=session,
        dimension="public",
        first=first,
        last=last,
        granularity=granularity,
        threshold=threshold,
    )
    return _answer(found, format)


@router.get("/reports/breakdowns/{dimension}", response_model=Breakdown)
async def get_breakdown(
    dimension: BreakdownDimension,
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    format: FormatDep = "json",
) -> Report | Response:
    """Tickets of a date range by one dimension (by country: whole weeks)."""
    found = await service.breakdown(
        session=session, dimension=dimension, first=first, last=last, threshold=threshold
    )
    return _answer(found, format)


@router.get("/reports/series/{dimension}", response_model=Series)
async def get_series(
    dimension: SeriesDimension,
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    granularity: Granularity = "week",
    format: FormatDep = "json",
) -> Report | Response:
    """One dimension by day, week or month (by country: weeks at the finest)."""
    found = await service.series(
        session=session,
        dimension=dimension,
        first=first,
        last=last,
        granularity=granularity,
        threshold=threshold,
    )
    return _answer(found, format)


@router.get("/reports/durations/{figure}", response_model=Durations)
async def get_durations(
    figure: Literal["first_response", "resolution", "platform_response"],
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    format: FormatDep = "json",
) -> Report | Response:
    """Time to first response or resolution per priority, or platform response times (p50, p90)."""
    found = await service.durations(
        session=session, figure=figure, first=first, last=last, threshold=threshold
    )
    return _answer(found, format)


@router.get("/reports/rates/{figure}", response_model=Rates)
async def get_rates(
    figure: Literal["sla", "override"],
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    format: FormatDep = "json",
) -> Report | Response:
    """SLA compliance per priority, or the triage override rate per category."""
    found = await service.rates(
        session=session, figure=figure, first=first, last=last, threshold=threshold
    )
    return _answer(found, format)


@router.get("/reports/referrals", response_model=Series)
async def get_referrals(
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    format: FormatDep = "json",
) -> Report | Response:
    """Referrals sent to and received from each partner."""
    found = await service.referrals(session=session, first=first, last=last, threshold=threshold)
    return _answer(found, format)


@router.get("/reports/charts/{dimension}.svg", response_class=Response)
async def get_chart(
    dimension: ChartDimension,
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
    granularity: Granularity = "week",
) -> Response:
    """Tickets over time by priority or category, as SVG."""
    found = await service.series(
        session=session,
        dimension=dimension,
        first=first,
        last=last,
        granularity=granularity,
        threshold=threshold,
    )
    svg = line_chart(found, title=f"Tickets by {dimension}")
    return Response(svg, media_type="image/svg+xml")


@router.get("/reports/monthly/{month}", response_class=Response)
async def get_monthly_report(
    month: report.MonthDep,
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    lang: Literal["en", "ar"] = "en",
    format: Literal["html", "pdf"] = "html",
) -> Response:
    """The monthly report, in English or Arabic, as a printable page or a PDF."""
    page = await report.monthly(session=session, month=month, lang=lang, threshold=threshold)
    if format == "pdf":
        pdf = await report.to_pdf(page)
        return Response(pdf, media_type="application/pdf")
    return Response(page, media_type="text/html; charset=utf-8")
