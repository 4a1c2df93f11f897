"""Retention: requesters whose tickets have all been closed long enough are erased."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta

from services.intake import repository, service
from shared.app import Runtime
from shared.auth import Principal, Scope
from shared.db import transaction

log = logging.getLogger(__name__)

# The audit log names the job, not a person, as the actor of these erasures.
SYSTEM = Principal(token_id="system", name="retention", scope=Scope.service)  # noqa: S106
_BATCH = 100


async def erase_expired(
    runtime: Runtime, *, retention: timedelta, now: datetime | None = None
) -> list[uuid.UUID]:
    """Erase, as DELETE /v1/requesters/{id} does, everyone past retention; returns their ids."""
    at = now or datetime.now(UTC)
    erased: list[uuid.UUID] = []
    while True:
        async with transaction(runtime.writer_sessions) as session:
            due = await repository.requesters_past_retention(session, at - retention, _BATCH)
            for requester_id in due:
                await service.erase_requester(
                    session=session,
                    outbox=runtime.outbox,
                    requester_id=requester_id,
                    actor=SYSTEM,
                    now=at,
                )
        erased.extend(due)
        if len(due) < _BATCH:
            return erased


async def _loop(runtime: Runtime, retention: timedelta, interval: float) -> None:
    while True:
        # First pass one interval after start: a starting service has other writes to do.
        await asyncio.sleep(interval)
        try:
            erased = await erase_expired(runtime, retention=retention)
            if erased:
                log.info("retention.erased", extra={"requesters": len(erased)})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - whoever is due is still due next pass
            log.warning("retention.failed", extra={"error_type": type(exc).__name__})


def start_retention_job(runtime: Runtime, *, retention_days: float, interval: float) -> None:
    """Run the pass every `interval` seconds; stopped with the service (0 turns it off)."""
    if interval <= 0 or retention_days <= 0:
        return
    retention = timedelta(days=retention_days)
    task = asyncio.get_running_loop().create_task(
        _loop(runtime, retention, interval), name="retention"
    )

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.on_stop.append(stop)
