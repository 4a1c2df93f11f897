"""The reporting service: create_app(settings)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.reporting import ops
from services.reporting.config import ReportingSettings
from services.reporting.consumers import SPECS, consumers
from services.reporting.models import ReportingBase
from services.reporting.routes import router
from shared.app import Runtime, ServiceDefinition, create_service_app


def _on_start(runtime: Runtime) -> None:
    runtime.extras["ops"] = ops.install(runtime, SPECS)


DEFINITION = ServiceDefinition(
    name="reporting",
    title="Sanad reporting",
    description="Anonymous figures: no names, contacts or text, and never a count below 5.",
    metadata=ReportingBase.metadata,
    routers=(router,),
    consumers=consumers,
    on_start=_on_start,
    migrations=Path(__file__).parent / "migrations",
)


def create_app(settings: ReportingSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or ReportingSettings())
