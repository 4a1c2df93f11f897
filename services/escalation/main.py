"""The escalation service: create_app(settings)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.escalation.config import EscalationSettings
from services.escalation.consumers import consumers
from services.escalation.models import EscalationBase
from shared.app import ServiceDefinition, create_service_app

DEFINITION = ServiceDefinition(
    name="escalation",
    title="Sanad escalation",
    description="Escalations to platforms and referrals to partner helplines.",
    metadata=EscalationBase.metadata,
    routers=(),
    consumers=consumers,
    migrations=Path(__file__).parent / "migrations",
)


def create_app(settings: EscalationSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or EscalationSettings())
