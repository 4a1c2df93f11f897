"""Reporting's HTTP routes."""

from __future__ import annotations

from fastapi import APIRouter

from services.reporting import service
from services.reporting.deps import AnalystDep, ReadSessionDep
from services.reporting.models import Summary

router = APIRouter(prefix="/v1", tags=["reports"])


@router.get("/metrics/summary", response_model=Summary)
async def get_summary(session: ReadSessionDep, _: AnalystDep) -> Summary:
    """Tickets received and triaged, by priority and category; small counts read "<5"."""
    return await service.summary(session=session)
