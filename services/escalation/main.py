"""The escalation service: create_app(settings) and what its lifespan starts."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.escalation.config import EscalationSettings
from services.escalation.consumers import consumers
from services.escalation.jobs import start_reminder_job
from services.escalation.keys import ContentKey
from services.escalation.models import EscalationBase
from services.escalation.platforms import load_platforms
from services.escalation.routes import router
from shared.app import Runtime, ServiceDefinition, create_service_app
from shared.crypto import load_master_keyring


def _on_start(runtime: Runtime) -> None:
    settings = runtime.settings
    assert isinstance(settings, EscalationSettings)
    # A bad registry file stops the service here, with the file and fields named.
    runtime.extras["platforms"] = load_platforms(settings.platforms_file)
    runtime.extras["content_key"] = ContentKey(load_master_keyring(settings))
    start_reminder_job(runtime, settings.reminder_check_seconds)


DEFINITION = ServiceDefinition(
    name="escalation",
    title="Sanad escalation",
    description="Escalations to platforms and referrals to partner helplines.",
    metadata=EscalationBase.metadata,
    routers=(router,),
    consumers=consumers,
    on_start=_on_start,
    migrations=Path(__file__).parent / "migrations",
)


def create_app(settings: EscalationSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or EscalationSettings())
