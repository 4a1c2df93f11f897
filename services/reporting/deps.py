"""Reporting's request dependencies as Annotated aliases."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Annotated, Literal

from fastapi import Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from shared.auth import Principal, Scope, require
from shared.deps import ReadSessionDep

AnalystDep = Annotated[Principal, Depends(require(Scope.analyst, Scope.coordinator))]


async def get_threshold(request: Request) -> int:
    """The small-cell threshold of this deployment (REPORTING_SMALL_CELL_THRESHOLD)."""
    threshold: int = request.app.state.runtime.settings.small_cell_threshold
    return threshold


ThresholdDep = Annotated[int, Depends(get_threshold)]
FromDep = Annotated[date | None, Query(alias="from", description="First day (ISO date)")]
ToDep = Annotated[date | None, Query(alias="to", description="Last day (ISO date), inclusive")]
FormatDep = Annotated[Literal["json", "csv"], Query(description="json or csv")]


@dataclass(frozen=True)
class ReportScope:
    """What every report asks for: an analyst's read session, a date range, the threshold."""

    session: AsyncSession
    first: date | None
    last: date | None
    threshold: int


async def get_report_scope(
    session: ReadSessionDep,
    _: AnalystDep,
    threshold: ThresholdDep,
    first: FromDep = None,
    last: ToDep = None,
) -> ReportScope:
    return ReportScope(session=session, first=first, last=last, threshold=threshold)


ReportDep = Annotated[ReportScope, Depends(get_report_scope)]

__all__ = [
    "AnalystDep",
    "FormatDep",
    "FromDep",
    "ReadSessionDep",
    "ReportDep",
    "ReportScope",
    "ThresholdDep",
    "ToDep",
]
