"""Helpers for the messaging integration tests: bounded waits and reading streams back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from nats.js.errors import NotFoundError
from sqlalchemy import Table, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import Envelope, encode
from shared.db import SessionMaker

T = TypeVar("T")


async def eventually(
    check: Callable[[], Awaitable[T | None]], *, within: float = 5.0, every: float = 0.02
) -> T:
    """Poll `check` until it returns something truthy; fail after `within` seconds."""
    deadline = time.monotonic() + within
    last: T | None = None
    while time.monotonic() < deadline:
        last = await check()
        if last:
            return last
        await asyncio.sleep(every)
    raise AssertionError(f"condition not met within {within}s (last: {last!r})")


async def stream_messages(js: JetStreamContext, stream: str) -> list[RawStreamMsg]:
    """Every message still in `stream`, oldest first."""
    state = (await js.stream_info(stream)).state
    found: list[RawStreamMsg] = []
    for seq in range(state.first_seq, state.last_seq + 1):
        if seq == 0:
            continue
        try:
            found.append(await js.get_msg(stream, seq))
        except NotFoundError:
            continue
    return found


async def last_dead_letter(js: JetStreamContext, service: str) -> RawStreamMsg | None:
    try:
        msg: RawStreamMsg = await js.get_last_msg("SANAD_DLQ", f"sanad.dlq.{service}")
    except NotFoundError:
        return None
    return msg


async def publish_event(js: JetStreamContext, event: Envelope, *, msg_id: str = "") -> None:
    """Publish as a producer's relay would (Nats-Msg-Id = event id unless told otherwise)."""
    headers = {"Nats-Msg-Id": msg_id or str(event.event_id)}
    await js.publish(event.subject, encode(event), headers=headers)


async def count_rows(sessions: SessionMaker, table: Table) -> int:
    async with sessions() as session:
        return int((await session.execute(select(func.count()).select_from(table))).scalar_one())


async def column_values(sessions: SessionMaker, table: Table, column: str) -> list[Any]:
    async with sessions() as session:
        query = select(table.c[column]).order_by(table.c[column])
        return list((await session.execute(query)).scalars())


@dataclass
class EffectHandler:
    """A consumer handler that writes one effect row per event, failing as planned.

    It writes its effect before it raises, so a failure also tests the rollback.
    `calls` holds (event id, batch token): one token per consumer transaction.
    """

    effects: Table
    raises: dict[uuid.UUID, list[Exception]] = field(default_factory=dict)
    calls: list[tuple[uuid.UUID, str]] = field(default_factory=list)

    async def __call__(self, session: AsyncSession, event: Envelope) -> None:
        token: str = session.info.setdefault("test.batch", uuid.uuid4().hex)
        self.calls.append((event.event_id, token))
        await session.execute(insert(self.effects).values(event_id=str(event.event_id)))
        plan = self.raises.get(event.event_id)
        if plan:
            raise plan.pop(0)

    def calls_for(self, event_id: uuid.UUID) -> int:
        return sum(1 for called, _ in self.calls if called == event_id)
