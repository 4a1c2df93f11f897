"""The escalation service: create_app(settings) and what its lifespan starts."""

from __future__ import annotations

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.escalation import iodef
from services.escalation.config import EscalationSettings
from services.escalation.consumers import consumers
from services.escalation.delivery import start_delivery_job
from services.escalation.jobs import start_reminder_job
from services.escalation.keys import ContentKey
from services.escalation.models import NOTICES, EscalationBase
from services.escalation.platforms import load_platforms
from services.escalation.referral_routes import router as referral_router
from services.escalation.routes import router
from services.escalation.signing import load_signing_key
from shared.app import Runtime, ServiceDefinition, create_service_app
from shared.crypto import (
    CryptoError,
    RecipientPublicKey,
    Sealer,
    load_master_keyring,
    load_or_create_recipient_keys,
)
from shared.notify import start_notify_job

INTAKE_CONTENT_KEY = "intake-content"


def _intake_sealer(settings: EscalationSettings) -> Sealer:
    """Inbound referral details are sealed for intake alone (mirrors intake's key for triage)."""
    if settings.intake_content_public_key is not None:
        public = RecipientPublicKey.from_base64(
            settings.intake_content_public_key.get_secret_value()
        )
    elif settings.require_keys:
        raise CryptoError("ESCALATION_INTAKE_CONTENT_PUBLIC_KEY is required")
    else:
        public = load_or_create_recipient_keys(settings.keys_dir, INTAKE_CONTENT_KEY).public_key
    return Sealer(public)


def _on_start(runtime: Runtime) -> None:
    settings = runtime.settings
    assert isinstance(settings, EscalationSettings)
    # A bad registry file stops the service here, with the file and fields named.
    runtime.extras["platforms"] = load_platforms(settings.platforms_file)
    masters = load_master_keyring(settings)
    runtime.extras["content_key"] = ContentKey(masters)
    runtime.extras["signing_key"] = load_signing_key(settings)
    runtime.extras["intake_sealer"] = _intake_sealer(settings)
    runtime.extras["rsit"] = iodef.load_rsit()
    runtime.extras["iodef_validator"] = iodef.load_validator()
    client = httpx.AsyncClient(timeout=settings.delivery_timeout_seconds, follow_redirects=False)
    runtime.extras["partner_http"] = client

    async def close_client() -> None:
        await runtime.extras["partner_http"].aclose()

    runtime.on_stop.append(close_client)
    start_reminder_job(runtime, settings.reminder_check_seconds)
    start_notify_job(runtime, NOTICES, settings.notify_config(), name="escalation-notify")
    start_delivery_job(runtime, settings.delivery_check_seconds, settings.delivery_idle_seconds)


DEFINITION = ServiceDefinition(
    name="escalation",
    title="Sanad escalation",
    description="Escalations to platforms and referrals to partner helplines.",
    metadata=EscalationBase.metadata,
    routers=(router, referral_router),
    consumers=consumers,
    on_start=_on_start,
    migrations=Path(__file__).parent / "migrations",
)


def create_app(settings: EscalationSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or EscalationSettings())
