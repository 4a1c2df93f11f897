"""The periodic SLA check, run inside the service from its lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from services.triage import clocks
from shared.app import Runtime
from shared.db import transaction

log = logging.getLogger(__name__)


async def check_once(runtime: Runtime, now: datetime | None = None) -> int:
    """One pass over the stored due times, in one transaction; returns levels announced."""
    async with transaction(runtime.writer_sessions) as session:
        return await clocks.check_clocks(
            session=session, outbox=runtime.outbox, now=now or datetime.now(UTC)
        )


async def _loop(runtime: Runtime, interval: float) -> None:
    while True:
        try:
            announced = await check_once(runtime)
            if announced:
                log.info("sla.checked", extra={"announced": announced})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stored clocks are checked again next pass
            log.warning("sla.check_failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(interval)


def start_sla_job(runtime: Runtime, interval: float) -> None:
    """Start the check every `interval` seconds; stopped with the service (0 turns it off)."""
    if interval <= 0:
        return
    task = asyncio.get_running_loop().create_task(_loop(runtime, interval), name="sla-check")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.on_stop.append(stop)
