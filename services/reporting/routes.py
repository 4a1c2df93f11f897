"""Reporting's HTTP routes: every figure as JSON or CSV, charts as SVG, the monthly report."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Response

from services.reporting import report, service
from services.reporting.charts import line_chart
from services.reporting.deps import AnalystDep, FormatDep, ReadSessionDep, ReportDep, ThresholdDep
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
SeriesDimension = Literal[
    BreakdownDimension, "public", "referrals", "referral_sent", "referral_received"
]
ChartDimension = Literal["priority", "category", "referrals"]
ReferralDirection = Literal["sent", "received"]


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
    q: ReportDep,
    granularity: Granularity = "month",
    format: FormatDep = "json",
) -> Report | Response:
    """The public counters (tickets received and escalated, journalists and activists assisted)."""
    found = await service.series(
        session=q.session,
        dimension="public",
        first=q.first,
        last=q.last,
        granularity=granularity,
        threshold=q.threshold,
    )
    return _answer(found, format)


@router.get("/reports/breakdowns/{dimension}", response_model=Breakdown)
async def get_breakdown(
    dimension: BreakdownDimension,
    q: ReportDep,
    format: FormatDep = "json",
) -> Report | Response:
    """Tickets of a date range by one dimension (by country: whole weeks)."""
    found = await service.breakdown(
        session=q.session, dimension=dimension, first=q.first, last=q.last, threshold=q.threshold
    )
    return _answer(found, format)


@router.get("/reports/series/{dimension}", response_model=Series)
async def get_series(
    dimension: SeriesDimension,
    q: ReportDep,
    granularity: Granularity = "week",
    format: FormatDep = "json",
) -> Report | Response:
    """One dimension by day, week or month (by country: weeks at the finest)."""
    found = await service.series(
        session=q.session,
        dimension=dimension,
        first=q.first,
        last=q.last,
        granularity=granularity,
        threshold=q.threshold,
    )
    return _answer(found, format)


@router.get("/reports/durations/{figure}", response_model=Durations)
async def get_durations(
    figure: Literal["first_response", "resolution", "platform_response"],
    q: ReportDep,
    format: FormatDep = "json",
) -> Report | Response:
    """Time to first response or resolution per priority, or platform response times (p50, p90)."""
    found = await service.durations(
        session=q.session, figure=figure, first=q.first, last=q.last, threshold=q.threshold
    )
    return _answer(found, format)


@router.get("/reports/rates/{figure}", response_model=Rates)
async def get_rates(
    figure: Literal["sla", "override"],
    q: ReportDep,
    format: FormatDep = "json",
) -> Report | Response:
    """SLA compliance per priority, or the triage override rate per category."""
    found = await service.rates(
        session=q.session, figure=figure, first=q.first, last=q.last, threshold=q.threshold
    )
    return _answer(found, format)


@router.get("/reports/referrals", response_model=Series)
async def get_referrals(
    q: ReportDep,
    format: FormatDep = "json",
) -> Report | Response:
    """Referrals sent to and received from each partner."""
    found = await service.referrals(
        session=q.session, first=q.first, last=q.last, threshold=q.threshold
    )
    return _answer(found, format)


@router.get("/reports/referrals/outcomes/{direction}", response_model=Series)
async def get_referral_outcomes(
    direction: ReferralDirection,
    q: ReportDep,
    format: FormatDep = "json",
) -> Report | Response:
    """Referrals sent or received, by partner and where they stand (open, accepted, declined,
    closed, withdrawn), counted on the day they were sent or received."""
    found = await service.referral_outcomes(
        session=q.session, direction=direction, first=q.first, last=q.last, threshold=q.threshold
    )
    return _answer(found, format)


@router.get("/reports/referrals/acceptance/{direction}", response_model=Durations)
async def get_referral_acceptance(
    direction: ReferralDirection,
    q: ReportDep,
    format: FormatDep = "json",
) -> Report | Response:
    """Time from a referral reaching the partner (or this helpline) to its acceptance, per
    partner (p50, p90 in minutes)."""
    found = await service.referral_acceptance(
        session=q.session, direction=direction, first=q.first, last=q.last, threshold=q.threshold
    )
    return _answer(found, format)


@router.get("/reports/charts/{dimension}.svg", response_class=Response)
async def get_chart(
    dimension: ChartDimension,
    q: ReportDep,
    granularity: Granularity = "week",
) -> Response:
    """Tickets over time by priority or category, or referrals sent and received, as SVG."""
    found = await service.series(
        session=q.session,
        dimension=dimension,
        first=q.first,
        last=q.last,
        granularity=granularity,
        threshold=q.threshold,
    )
    title = "Referrals" if dimension == "referrals" else f"Tickets by {dimension}"
    svg = line_chart(found, title=title)
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
