"""A notification hook: POST small JSON notices (ids only) to a configured URL until acknowledged.

A service writes a notice in the transaction of the change it is about
(`queue_notice`), so a notice exists exactly when the change does; a job reads
the notices due, POSTs each outside any transaction and records the outcome in
another. The body holds ids, states and times only, never a person's words.
With a secret, `X-Sanad-Signature-256: sha256=<hex>` is the HMAC-SHA256 of the
exact body. A 2xx acknowledges; other 4xx (but 408, 425, 429) are final;
network errors and 5xx are retried with bounded exponential backoff up to
`max_attempts`; a notice older than `max_age` is dropped unsent.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import AnyHttpUrl, BaseModel, Field, SecretStr
from sqlalchemy import (
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Uuid,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from shared.app import Runtime
from shared.db import UTCDateTime, transaction

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Sanad-Signature-256"
_RETRIED_4XX = frozenset({408, 425, 429})
_QUEUED = "sanad.notify.queued"
_WAKE = "sanad.notify.wake"
_HOOKED = "sanad.notify.hooked"


@dataclass(frozen=True)
class NotifyConfig:
    """Where notices go and how hard the job tries (url None: nothing is queued or sent)."""

    url: str | None
    secret: str | None = None
    check_seconds: float = 2.0
    idle_seconds: float = 60.0
    max_attempts: int = 8
    backoff_seconds: float = 5.0
    backoff_cap_seconds: float = 300.0
    timeout_seconds: float = 5.0
    max_age_seconds: float = 6 * 3600.0


class NotifyHookSettings(BaseModel):
    """The hook's settings, for a service's settings class to inherit (`<PREFIX>_NOTIFY_*`)."""

    # Notices are POSTed (ids only) to this URL, signed with the secret when one is set
    # (X-Sanad-Signature-256); unset, nothing is queued.
    notify_webhook_url: AnyHttpUrl | None = None
    notify_webhook_secret: SecretStr | None = None
    # The delivery job: passes at least this far apart, woken by each new notice (0: the
    # caller runs the passes), and at most this far apart when idle.
    notify_check_seconds: float = Field(default=2.0, ge=0)
    notify_idle_seconds: float = Field(default=60.0, gt=0)
    notify_max_attempts: int = Field(default=8, ge=1, le=100)
    notify_backoff_seconds: float = Field(default=5.0, gt=0)
    notify_backoff_cap_seconds: float = Field(default=300.0, gt=0)
    notify_timeout_seconds: float = Field(default=5.0, gt=0)
    # A notice older than this is not worth sending any more.
    notify_max_age_seconds: float = Field(default=6 * 3600.0, gt=0)

    def notify_config(self) -> NotifyConfig:
        secret = self.notify_webhook_secret
        return NotifyConfig(
            url=str(self.notify_webhook_url) if self.notify_webhook_url else None,
            secret=secret.get_secret_value() if secret else None,
            check_seconds=self.notify_check_seconds,
            idle_seconds=self.notify_idle_seconds,
            max_attempts=self.notify_max_attempts,
            backoff_seconds=self.notify_backoff_seconds,
            backoff_cap_seconds=self.notify_backoff_cap_seconds,
            timeout_seconds=self.notify_timeout_seconds,
            max_age_seconds=self.notify_max_age_seconds,
        )


def notices_table(metadata: MetaData) -> Table:
    """The service's queue of notices (one table per service database)."""
    found = metadata.tables.get("notices")
    if found is not None:
        return found
    return Table(
        "notices",
        metadata,
        Column("id", Uuid, primary_key=True),
        Column("body", LargeBinary, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
        # due, done, failed (refused or gave up), expired (too old to be worth sending)
        Column("status", String(16), nullable=False, index=True),
        Column("attempts", Integer, nullable=False),
        Column("next_attempt_at", UTCDateTime(), nullable=True, index=True),
        Column("last_http_status", Integer, nullable=True),
        # An exception's type name or nothing: never a response body.
        Column("last_error", String(64), nullable=True),
        Column("finished_at", UTCDateTime(), nullable=True),
    )


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int, *, base: float, cap: float) -> timedelta:
    """The wait after `attempts` failed deliveries: doubling from `base`, never above `cap`."""
    exponent = min(max(attempts - 1, 0), 30)
    return timedelta(seconds=min(cap, base * (2**exponent)))


async def queue_notice(
    session: AsyncSession, table: Table, notice: Mapping[str, Any], *, now: datetime
) -> None:
    """Queue `notice` (ids, states, times) in the session's transaction.

    Only where a hook is configured (`start_notify_job` marks the service's sessions):
    elsewhere a notice nobody would send is not kept.
    """
    if not session.info.get(_HOOKED):
        return
    body = json.dumps(
        {**notice, "sent_by": "sanad"}, separators=(",", ":"), default=str, sort_keys=True
    ).encode()
    await session.execute(
        insert(table).values(
            id=uuid.uuid4(),
            body=body,
            created_at=now,
            status="due",
            attempts=0,
            next_attempt_at=now,
        )
    )
    session.info[_QUEUED] = True


async def post(
    config: NotifyConfig, http: httpx.AsyncClient, body: bytes
) -> tuple[int | None, str | None]:
    """POST one body; the HTTP status, or None and the error's type name."""
    headers = {"Content-Type": "application/json"}
    if config.secret:
        headers[SIGNATURE_HEADER] = signature(config.secret, body)
    try:
        response = await http.post(str(config.url), content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, type(exc).__name__
    return response.status_code, None


def settle(
    config: NotifyConfig, attempts: int, status: int | None, problem: str | None, now: datetime
) -> dict[str, Any]:
    """What one more attempt's outcome makes of a notice (the columns to update)."""
    values: dict[str, Any] = {"attempts": attempts, "last_http_status": status}
    values["last_error"] = problem
    if status is not None and 200 <= status < 300:
        return {**values, "status": "done", "finished_at": now, "next_attempt_at": None}
    final = status is not None and 400 <= status < 500 and status not in _RETRIED_4XX
    if final or attempts >= config.max_attempts:
        error = problem or f"http-{status}"
        return {**values, "status": "failed", "finished_at": now, "next_attempt_at": None} | {
            "last_error": error
        }
    wait = backoff(attempts, base=config.backoff_seconds, cap=config.backoff_cap_seconds)
    return {**values, "next_attempt_at": now + wait}


async def deliver_due(
    runtime: Runtime,
    table: Table,
    config: NotifyConfig,
    http: httpx.AsyncClient,
    *,
    now: datetime | None = None,
    limit: int = 20,
) -> int:
    """One pass over the notices due; returns how many the URL acknowledged."""
    if config.url is None:
        return 0
    now = now or datetime.now(UTC)
    c = table.c
    due_query = (
        select(c.id, c.body, c.created_at, c.attempts)
        .where(c.status == "due", c.next_attempt_at <= now)
        .order_by(c.next_attempt_at)
        .limit(limit)
    )
    async with transaction(runtime.sessions) as session:
        due = (await session.execute(due_query)).all()
    acknowledged = 0
    for notice_id, body, created_at, attempts in due:
        if now - created_at > timedelta(seconds=config.max_age_seconds):
            values: dict[str, Any] = {"status": "expired", "finished_at": now}
            values["next_attempt_at"] = None
        else:
            status, problem = await post(config, http, body)
            values = settle(config, attempts + 1, status, problem, now)
            acknowledged += values.get("status") == "done"
            log.info(
                "notice.attempted",
                extra={"attempts": attempts + 1, "status": values.get("status", "due")},
            )
        async with transaction(runtime.writer_sessions) as session:
            await session.execute(
                update(table).where(c.id == notice_id, c.status == "due").values(values)
            )
    return acknowledged


async def next_due_in(runtime: Runtime, table: Table, *, interval: float, idle: float) -> float:
    """Seconds until the next notice is due (at least `interval`, at most `idle`)."""
    c = table.c
    async with transaction(runtime.sessions) as session:
        due = (
            await session.execute(select(func.min(c.next_attempt_at)).where(c.status == "due"))
        ).scalar_one_or_none()
    if due is None:
        return idle
    return float(min(idle, max(interval, (due - datetime.now(UTC)).total_seconds())))


@event.listens_for(Session, "after_commit")
def _wake_after_commit(session: Session) -> None:
    if session.info.pop(_QUEUED, False):
        wake = session.info.get(_WAKE)
        if wake is not None:
            wake()


def start_notify_job(runtime: Runtime, table: Table, config: NotifyConfig, *, name: str) -> None:
    """With a URL, notices are queued; the job sends them unless check_seconds is 0.

    (0 leaves the passes to the caller: tests run `deliver_due` on their own clock.)
    """
    if config.url is None:
        return
    wake = asyncio.Event()
    # Sessions copy their sessionmaker's info: a commit that queues a notice finds `wake`.
    for sessions in {runtime.sessions, runtime.writer_sessions}:
        info = dict(sessions.kw.get("info") or {})
        info[_HOOKED], info[_WAKE] = True, wake.set
        sessions.configure(info=info)
    if config.check_seconds <= 0:
        return
    http = httpx.AsyncClient(timeout=config.timeout_seconds, follow_redirects=False)

    async def loop() -> None:
        while True:
            delay = config.check_seconds
            try:
                await deliver_due(runtime, table, config, http)
                delay = await next_due_in(
                    runtime, table, interval=config.check_seconds, idle=config.idle_seconds
                )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the stored notices are tried next pass
                log.warning("notice.pass_failed", extra={"error_type": type(exc).__name__})
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), timeout=delay)
            wake.clear()

    task = asyncio.get_running_loop().create_task(loop(), name=name)

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await http.aclose()

    runtime.on_stop.append(stop)
