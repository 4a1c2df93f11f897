"""The intake service: create_app(settings) and what its lifespan starts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from fastapi import FastAPI

from services.intake.config import IntakeSettings
from services.intake.consumers import consumers
from services.intake.duplicates import RecentSubmissions
from services.intake.email_server import start_email_server
from services.intake.follow_up import FollowUpGuard
from services.intake.keys import load_keys
from services.intake.models import IntakeBase
from services.intake.outbound import start_outbound_job
from services.intake.pages import PUBLIC_PAGE_PATHS, UPLOAD_PAGE_PATHS, load_pages, page_router
from services.intake.referrals import load_content_keys
from services.intake.reindex import start_reindex_job
from services.intake.retention import start_retention_job
from services.intake.routes import router
from services.intake.webhooks import WEBHOOK_PATHS
from services.intake.webhooks import router as webhook_router
from shared.app import Runtime, ServiceDefinition, create_service_app
from shared.groupcommit import GroupCommitter


async def _on_start(runtime: Runtime) -> None:
    assert isinstance(runtime.settings, IntakeSettings)
    runtime.extras["keys"] = load_keys(runtime.settings)
    # Opens inbound referrals; loaded now so a missing key stops the start, not a referral.
    runtime.extras["content_keys"] = load_content_keys(runtime.settings)
    runtime.extras["pages"] = load_pages()
    runtime.extras["follow_up_guard"] = FollowUpGuard(
        per_reference_per_minute=runtime.settings.follow_up_per_reference_per_minute,
        per_address_per_minute=runtime.settings.follow_up_per_address_per_minute,
        burst=runtime.settings.follow_up_burst,
    )
    runtime.extras["recent_submissions"] = RecentSubmissions(
        window=timedelta(seconds=runtime.settings.duplicate_window_seconds)
    )
    committer = GroupCommitter(runtime.writer_sessions)
    committer.start()
    runtime.extras["committer"] = committer
    runtime.on_stop.append(committer.stop)
    start_retention_job(
        runtime,
        retention_days=runtime.settings.retention_days,
        interval=runtime.settings.retention_check_seconds,
    )
    await start_outbound_job(runtime, runtime.settings)
    start_reindex_job(runtime, interval=runtime.settings.reindex_check_seconds)
    await start_email_server(runtime, runtime.settings)


DEFINITION = ServiceDefinition(
    name="intake",
    title="Sanad intake",
    description="The one door: tickets from every channel, stored encrypted.",
    metadata=IntakeBase.metadata,
    routers=(router, webhook_router, page_router()),
    consumers=consumers,
    on_start=_on_start,
    migrations=Path(__file__).parent / "migrations",
    public_paths=frozenset({("POST", "/v1/tickets")}) | PUBLIC_PAGE_PATHS | WEBHOOK_PATHS,
    upload_paths=UPLOAD_PAGE_PATHS,
)


def create_app(settings: IntakeSettings | None = None) -> FastAPI:
    return create_service_app(DEFINITION, settings or IntakeSettings())
