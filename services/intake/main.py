"""The intake service: create_app(settings) and what its lifespan starts."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.intake.config import IntakeSettings
from services.intake.consumers import consumers
from services.intake.keys import load_keys
from services.intake.models import IntakeBase
from services.intake.routes import router
from shared.app import Runtime, ServiceDefinition, create_service_app
from shared.groupcommit import GroupCommitter


async def _on_start(runtime: Runtime) -> None:
    assert isinstance(runtime.settings, IntakeSettings)
    runtime.extras["keys"] = load_keys(runtime.settings)
    committer = GroupCommitter(runtime.writer_sessions)
    committer.start()
    runtime.extras["committer"] = committer
    runtime.on_stop.append(committer.stop)


DEFINITION = ServiceDefinition(
    name="intake",
    title="Sanad intake",
    description="The one door: tickets from every channel, stored encrypted.",
    metadata=IntakeBase.metadata,
    routers=(router,),
    consumers=consumers,
    on_start=_on_start,
    migrations=Path(__file__).parent / "migrations",
    public_paths=frozenset({("POST", "/v1/tickets")}),
)


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or IntakeSettings())
