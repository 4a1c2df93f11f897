"""The notification hook: POSTs each lead page to TRIAGE_NOTIFY_WEBHOOK_URL until acknowledged.

A page is written in the transaction that made the ticket P1 (roster.page_lead); this
job reads the pages due, POSTs each outside any transaction, and records the outcome
in another. The body holds ids only (ticket, priority, lead, reason, times), never
text. With a secret, `X-Sanad-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the
exact body. A 2xx acknowledges; other 4xx (but 408, 425, 429) are final; network
errors and 5xx are retried with bounded exponential backoff, up to
`notify_max_attempts`. A page older than `notify_max_age_seconds` is dropped unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from services.triage import repository
from services.triage.config import TriageSettings
from services.triage.domain import backoff
from services.triage.models import LeadPage
from services.triage.roster import PAGE_SCHEDULED
from shared.app import Runtime
from shared.db import transaction

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sanad-Signature-256"
_RETRIED_4XX = frozenset({408, 425, 429})
_WAKE = "sanad.triage.wake-notify"


def _settings(runtime: Runtime) -> TriageSettings:
    settings = runtime.settings
    assert isinstance(settings, TriageSettings)
    return settings


def body_of(page: LeadPage, sent_at: datetime) -> bytes:
    """The JSON body: ids, priority, reason and times only."""
    return json.dumps(
        {
            "type": "sanad.triage.lead.paged",
            "ticket_id": str(page.ticket_id),
            "priority": page.priority,
            "lead_id": page.lead_id,
            "reason": page.reason,
            "paged_at": page.paged_at.isoformat(),
            "sent_at": sent_at.isoformat(),
        },
        separators=(",", ":"),
    ).encode()


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver_due(
    runtime: Runtime, http: httpx.AsyncClient, *, now: datetime | None = None, limit: int = 20
) -> int:
    """One pass over the pages due; returns how many the webhook acknowledged."""
    settings = _settings(runtime)
    if settings.notify_webhook_url is None:
        return 0
    now = now or datetime.now(UTC)
    async with transaction(runtime.sessions) as session:
        due = [
            (p.ticket_id, body_of(p, now))
            for p in await repository.pages_due(session, now, limit=limit)
        ]
    acknowledged = 0
    for ticket_id, body in due:
        async with transaction(runtime.writer_sessions) as session:
            page = await repository.get_page(session, ticket_id)
            if page is None or page.status != "due":
                continue
            if now - page.paged_at > timedelta(seconds=settings.notify_max_age_seconds):
                _finish(page, "expired", None, now)
                continue
        status, problem = await _post(settings, http, body)
        async with transaction(runtime.writer_sessions) as session:
            page = await repository.get_page(session, ticket_id)
            if page is not None and page.status == "due":
                acknowledged += _record(settings, page, status, problem, now)
    return acknowledged


async def _post(
    settings: TriageSettings, http: httpx.AsyncClient, body: bytes
) -> tuple[int | None, str | None]:
    headers = {"Content-Type": "application/json"}
    if settings.notify_webhook_secret is not None:
        headers[SIGNATURE_HEADER] = signature(
            settings.notify_webhook_secret.get_secret_value(), body
        )
    try:
        response = await http.post(str(settings.notify_webhook_url), content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return response.status_code, None


def _record(
    settings: TriageSettings, page: LeadPage, status: int | None, problem: str | None, now: datetime
) -> bool:
    page.attempts += 1
    page.last_http_status, page.last_error = status, problem
    ids = {"ticket_id": str(page.ticket_id), "attempts": page.attempts}
    if status is not None and 200 <= status < 300:
        _finish(page, "done", None, now)
        log.info("lead_page.notified", extra=ids)
        return True
    if status is not None and 400 <= status < 500 and status not in _RETRIED_4XX:
        _finish(page, "failed", f"http-{status}", now)
        log.warning("lead_page.refused", extra={**ids, "status": status})
    elif page.attempts >= settings.notify_max_attempts:
        _finish(page, "failed", problem or f"http-{status}", now)
        log.warning("lead_page.gave_up", extra=ids)
    else:
        page.next_attempt_at = now + backoff(
            page.attempts,
            base=settings.notify_backoff_seconds,
            cap=settings.notify_backoff_cap_seconds,
        )
    return False


def _finish(page: LeadPage, status: str, error: str | None, now: datetime) -> None:
    page.status, page.finished_at = status, now
    if error is not None:
        page.last_error = error
    page.next_attempt_at = None


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(PAGE_SCHEDULED, False):
        wake = session.info.get(_WAKE)
        if wake is not None:
            wake()


async def _next_pass_in(runtime: Runtime, interval: float, idle: float) -> float:
    async with transaction(runtime.sessions) as session:
        due = await repository.next_page_at(session)
    if due is None:
        return idle
    return min(idle, max(interval, (due - datetime.now(UTC)).total_seconds()))


async def _loop(
    runtime: Runtime, http: httpx.AsyncClient, wake: asyncio.Event, interval: float, idle: float
) -> None:
    while True:
        delay = interval
        try:
            await deliver_due(runtime, http)
            delay = await _next_pass_in(runtime, interval, idle)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stored pages are tried again next pass
            log.warning("lead_page.pass_failed", extra={"error_type": type(exc).__name__})
        # Sleeps until the next page is due, or a commit queues a new one.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=delay)
        wake.clear()


def start_notify_job(runtime: Runtime) -> None:
    """Deliver pages to the webhook, if one is configured (notify_check_seconds 0: off)."""
    settings = _settings(runtime)
    if settings.notify_webhook_url is None or settings.notify_check_seconds <= 0:
        return
    wake = asyncio.Event()
    # Sessions copy their sessionmaker's info: a commit that queues a page finds `wake`.
    for sessions in {runtime.sessions, runtime.writer_sessions}:
        info = dict(sessions.kw.get("info") or {})
        info[_WAKE] = wake.set
        sessions.configure(info=info)
    http = httpx.AsyncClient(timeout=settings.notify_timeout_seconds, follow_redirects=False)
    task = asyncio.get_running_loop().create_task(
        _loop(runtime, http, wake, settings.notify_check_seconds, settings.notify_idle_seconds),
        name="lead-page-notify",
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await http.aclose()

    runtime.on_stop.append(stop)
