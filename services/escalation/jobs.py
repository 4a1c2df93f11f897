"""The periodic reminder check, run inside the service from its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from services.escalation import service
from services.escalation.models import NOTICES
from shared.app import Runtime
from shared.db import transaction

log = logging.getLogger(__name__)


async def check_once(runtime: Runtime, now: datetime | None = None, limit: int = 500) -> int:
    """One pass over the stored due times, in one transaction; returns reminders announced."""
    async with transaction(runtime.writer_sessions) as session:
        return await service.remind_silent_platforms(
            session=session,
            outbox=runtime.outbox,
            registry=runtime.extras["platforms"],
            now=now or datetime.now(UTC),
            limit=limit,
            notices=NOTICES,
        )


async def _loop(runtime: Runtime, interval: float) -> None:
    while True:
        try:
            announced = await check_once(runtime)
            if announced:
                log.info("escalation.reminders", extra={"announced": announced})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stored due times are checked again next pass
            log.warning(
                "escalation.reminder_check_failed", extra={"error_type": type(exc).__name__}
            )
        await asyncio.sleep(interval)


def start_reminder_job(runtime: Runtime, interval: float) -> None:
    """Check every `interval` seconds; stopped with the service (0 turns it off)."""
    if interval <= 0:
        return
    task = asyncio.get_running_loop().create_task(_loop(runtime, interval), name="reminders")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.on_stop.append(stop)
