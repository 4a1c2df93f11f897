"""The monthly report: protected figures and charts on one printable page, English or Arabic."""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from pathlib import Path as FilePath
from typing import Annotated, Any

from fastapi import Path
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy.ext.asyncio import AsyncSession

from services.reporting import service
from services.reporting.charts import duration_chart, line_chart
from services.reporting.domain import REFERRAL_DIRECTIONS
from services.reporting.errors import PdfUnavailable
from services.reporting.labels import LABELS

MonthDep = Annotated[
    str, Path(pattern=r"^(19|2\d)\d{2}-(0[1-9]|1[0-2])$", description="YYYY-MM, 1900 to 2999")
]
TABLES = ("category", "priority", "channel", "requester_role", "country")

_env = Environment(
    loader=FileSystemLoader(FilePath(__file__).parent / "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


async def monthly(*, session: AsyncSession, month: str, lang: str, threshold: int) -> str:
    """The month's counters, breakdowns, referrals and charts, rendered as HTML."""
    first = date.fromisoformat(f"{month}-01")
    last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    words = LABELS[lang]
    counters = await service.series(
        session=session,
        dimension="public",
        first=first,
        last=last,
        granularity="month",
        threshold=threshold,
    )
    tables = [
        await service.breakdown(
            session=session, dimension=d, first=first, last=last, threshold=threshold
        )
        for d in TABLES
    ]
    charts = []
    for dimension in ("priority", "category"):
        found = await service.series(
            session=session,
            dimension=dimension,
            first=first,
            last=last,
            granularity="day",
            threshold=threshold,
        )
        title = words["chart"][dimension]
        charts.append(line_chart(found, title=title, labels=words["values"]))
    platforms = await service.durations(
        session=session, figure="platform_response", first=first, last=last, threshold=threshold
    )
    charts.append(
        duration_chart(platforms, title=words["chart"]["platform_response"], labels=words["values"])
    )
    referred = await service.series(
        session=session,
        dimension="referrals",
        first=first,
        last=last,
        granularity="day",
        threshold=threshold,
    )
    charts.append(line_chart(referred, title=words["chart"]["referrals"], labels=words["values"]))
    referrals = {
        "partners": await service.referrals(
            session=session, first=first, last=last, threshold=threshold
        ),
        "outcomes": [
            await service.referral_outcomes(
                session=session, direction=d, first=first, last=last, threshold=threshold
            )
            for d in REFERRAL_DIRECTIONS
        ],
        "acceptance": [
            await service.referral_acceptance(
                session=session, direction=d, first=first, last=last, threshold=threshold
            )
            for d in REFERRAL_DIRECTIONS
        ],
    }
    context: dict[str, Any] = {
        "lang": lang,
        "dir": "rtl" if lang == "ar" else "ltr",
        "w": words,
        "month": month,
        "threshold": threshold,
        "counters": counters.value_totals,
        "tables": tables,
        "charts": charts,
        "referrals": referrals,
    }
    return _env.get_template("monthly.html").render(**context)


async def to_pdf(html: str) -> bytes:
    """The page as PDF (WeasyPrint, in a worker thread: it is CPU-bound)."""
    try:
        from weasyprint import HTML
    except ImportError as exc:
        raise PdfUnavailable("WeasyPrint is not installed") from exc

    def render() -> bytes:
        pdf: bytes = HTML(string=html).write_pdf()
        return pdf

    return await asyncio.to_thread(render)
