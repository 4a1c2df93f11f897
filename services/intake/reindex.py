"""Contact indexes follow the master key: after a rotation each is computed again.

A contact is matched by an HMAC under a key derived from the master key, so that
a copy of the database taken before a rotation cannot be used to test phone
numbers once the old master is destroyed. The price: when the master changes,
every stored index must be computed again under the new one. This job does it
from the encrypted handle (the data key survives the rotation, re-wrapped), and
`sanad keys rotate` waits for it before it destroys the old master, so that no
contact stops matching its open ticket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import or_, select
from sqlmodel import col

from services.intake import domain, service
from services.intake.keys import IntakeKeys
from services.intake.models import Requester
from shared.app import Runtime
from shared.crypto import decrypt_field
from shared.db import SessionMaker, transaction

log = logging.getLogger(__name__)

_BATCH = 200


async def reindex_contacts(writer_sessions: SessionMaker, keys: IntakeKeys) -> int:
    """Compute again, under the current master, every index computed under another."""
    done = 0
    while True:
        current = keys.master.key_id
        async with transaction(writer_sessions) as session:
            stale = (
                await session.execute(
                    select(Requester)
                    .where(
                        col(Requester.contact_index).is_not(None),
                        col(Requester.wrapped_key).is_not(None),
                        or_(
                            col(Requester.contact_index_key).is_(None),
                            col(Requester.contact_index_key) != current,
                        ),
                    )
                    .limit(_BATCH)
                )
            ).scalars()
            rows = list(stale)
            for requester in rows:
                _reindex(keys, requester)
        done += len(rows)
        if len(rows) < _BATCH:
            return done


def _reindex(keys: IntakeKeys, requester: Requester) -> None:
    if requester.contact_handle_enc is None or requester.contact_channel is None:
        requester.contact_index = requester.contact_index_key = None
        return
    rid = str(requester.id)
    handle = decrypt_field(
        service.requester_key(keys, requester),
        requester.contact_handle_enc,
        aad=domain.field_aad("requesters", "contact_handle", rid),
    )
    requester.contact_index, requester.contact_index_key = keys.contact_index(
        requester.contact_channel, handle
    )


async def _loop(runtime: Runtime, interval: float) -> None:
    keys: IntakeKeys = runtime.extras["keys"]
    while True:
        try:
            done = await reindex_contacts(runtime.writer_sessions, keys)
            if done:
                log.info("contacts.reindexed", extra={"requesters": done})
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - what is stale now is still stale next pass
            log.warning("contacts.reindex_failed", extra={"error_type": type(exc).__name__})
        await asyncio.sleep(interval)


def start_reindex_job(runtime: Runtime, *, interval: float) -> None:
    """Re-index at start (older rows have no key id) and every `interval` seconds (0: off)."""
    if interval <= 0:
        return
    task = asyncio.get_running_loop().create_task(_loop(runtime, interval), name="reindex")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.on_stop.append(stop)
