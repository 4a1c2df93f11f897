"""The outbox relay: the only code that publishes, always with Nats-Msg-Id = event id."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from opentelemetry.trace import Tracer
from sqlalchemy import Table, delete, select

from shared.db import SessionMaker
from shared.messaging.purge import TICKET_HEADER, ticket_of
from shared.telemetry import publish_span

log = logging.getLogger(__name__)


class OutboxRelay:
    """Publishes committed outbox rows in order, deleting each once JetStream has it."""

    def __init__(
        self,
        *,
        sessions: SessionMaker,
        writer_sessions: SessionMaker,
        table: Table,
        js: JetStreamContext,
        tracer: Tracer,
        batch_size: int = 256,
        poll_seconds: float = 1.0,
        publish_timeout: float = 5.0,
        single_writer: bool = True,
        window: int = 32,
    ) -> None:
        self._sessions = sessions
        self._writer_sessions = writer_sessions
        self._table = table
        self._js = js
        self._tracer = tracer
        self._batch_size = batch_size
        self._poll = poll_seconds
        self._publish_timeout = publish_timeout
        self._single_writer = single_writer
        self._window = window
        self._wake = asyncio.Event()
        self._stopping = False
        self.published = 0

    def wake(self) -> None:
        """Called after a commit that wrote events."""
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()

    async def run(self) -> None:
        """Publish until stopped; polls as well, to pick up rows left by a crash or a peer."""
        failures = 0
        while not self._stopping:
            self._wake.clear()
            try:
                sent = await self.publish_pending()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the relay must outlive NATS or DB outages
                failures += 1
                log.warning("outbox.publish_failed", extra={"error_type": type(exc).__name__})
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))
                continue
            if sent < self._batch_size:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=self._poll)
        # A last pass at shutdown: what was committed a moment ago goes out now.
        with contextlib.suppress(Exception):
            await self.publish_pending()

    async def publish_pending(self) -> int:
        """Publish one batch of pending rows; returns how many were published."""
        t = self._table
        query = (
            select(t.c.id, t.c.event_id, t.c.subject, t.c.payload, t.c.trace_carrier)
            .order_by(t.c.id)
            .limit(self._batch_size)
        )
        if self._single_writer:
            # One writer per file: read, publish without holding a lock, then delete.
            async with self._sessions() as session, session.begin():
                rows = (await session.execute(query)).all()
            done = await self._publish_rows(rows)
            if done:
                async with self._writer_sessions() as session, session.begin():
                    await session.execute(delete(t).where(t.c.id.in_(done)))
        else:
            # SKIP LOCKED lets relay replicas share the outbox without publishing twice.
            async with self._writer_sessions() as session, session.begin():
                locked = query.with_for_update(skip_locked=True)
                rows = (await session.execute(locked)).all()
                done = await self._publish_rows(rows)
                if done:
                    await session.execute(delete(t).where(t.c.id.in_(done)))
        self.published += len(done)
        if len(done) < len(rows):
            raise RuntimeError("some outbox rows were not published")
        return len(done)

    async def _publish_rows(self, rows: Sequence[Any]) -> list[int]:
        """Publish in order, a window at a time; stop at the first failure."""
        done: list[int] = []
        for start in range(0, len(rows), self._window):
            window = rows[start : start + self._window]
            # Sent in order over one connection; the acknowledgements are awaited together.
            acks = [await self._publish_one(row) for row in window]
            try:
                results = await asyncio.wait_for(
                    asyncio.gather(*acks, return_exceptions=True), timeout=self._publish_timeout
                )
            except TimeoutError:
                for ack in acks:
                    ack.cancel()
                return done
            for row, result in zip(window, results, strict=True):
                if isinstance(result, BaseException):
                    # Keep the failed row and all after it. Some of those may already be on
                    # the stream and go again (JetStream drops the duplicates), so a retried
                    # event can arrive after a later one: consumers tolerate that. The
                    # window bounds how much is sent twice when NATS is slow.
                    return done
                done.append(row.id)
        return done

    async def _publish_one(self, row: Any) -> asyncio.Future[Any]:
        attrs = {"sanad.event_id": row.event_id, "messaging.destination.name": row.subject}
        with publish_span(
            self._tracer, row.subject, carrier=row.trace_carrier, attributes=attrs
        ) as headers:
            headers = {**headers, "Nats-Msg-Id": row.event_id}
            if ticket_id := ticket_of(row.payload):
                # An id, never content: erasure finds the ticket's messages by it (purge.py).
                headers[TICKET_HEADER] = ticket_id
            ack: asyncio.Future[Any] = await self._js.publish_async(
                row.subject, row.payload, headers=headers, wait_stall=self._publish_timeout
            )
            return ack
