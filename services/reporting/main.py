"""The reporting service: create_app(settings)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.reporting.config import ReportingSettings
from services.reporting.consumers import consumers
from services.reporting.models import ReportingBase
from services.reporting.routes import router
from shared.app import ServiceDefinition, create_service_app

DEFINITION = ServiceDefinition(
    name="reporting",
    title="Sanad reporting",
    description="Anonymous figures: no names, contacts or text, and never a count below 5.",
    metadata=ReportingBase.metadata,
    routers=(router,),
    consumers=consumers,
    migrations=Path(__file__).parent / "migrations",
)


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or ReportingSettings())
