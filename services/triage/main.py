"""The triage service: create_app(settings) and what its lifespan starts."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI

from services.triage import service
from services.triage.config import TriageSettings
from services.triage.consumers import consumers
from services.triage.jobs import start_sla_job
from services.triage.lexicon import load_lexicon
from services.triage.models import NOTICES, TriageBase
from services.triage.routes import router
from shared.app import Runtime, ServiceDefinition, create_service_app
from shared.crypto import (
    CryptoError,
    RecipientKeyPair,
    load_master_keyring,
    load_or_create_recipient_keys,
)
from shared.db import transaction
from shared.notify import start_notify_job

CONTENT_KEY = "triage-content"


async def _on_start(runtime: Runtime) -> None:
    settings = runtime.settings
    assert isinstance(settings, TriageSettings)
    runtime.extras["lexicon"] = load_lexicon()
    if settings.content_private_key is not None:
        keys = RecipientKeyPair.from_private_base64(settings.content_private_key.get_secret_value())
    elif settings.require_keys:
        raise CryptoError("TRIAGE_CONTENT_PRIVATE_KEY is required")
    else:
        keys = load_or_create_recipient_keys(settings.keys_dir, CONTENT_KEY)
    runtime.extras["content_keys"] = keys
    # Wraps the per-ticket keys of handlers' reasons; follows `sanad keys rotate`.
    masters = load_master_keyring(settings)
    runtime.extras["masters"] = masters
    async with transaction(runtime.writer_sessions) as session:
        await service.seal_clear_reasons(session=session, masters=masters)
    start_sla_job(runtime, settings.sla_check_seconds)
    start_notify_job(runtime, NOTICES, settings.notify_config(), name="lead-page-notify")


DEFINITION = ServiceDefinition(
    name="triage",
    title="Sanad triage",
    description=(
        "Category, flags, priority and reasons for every ticket; SLA clocks; "
        "the handler roster and assignment."
    ),
    metadata=TriageBase.metadata,
    routers=(router,),
    consumers=consumers,
    on_start=_on_start,
    migrations=Path(__file__).parent / "migrations",
)


def create_app(settings: TriageSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or TriageSettings())
