"""One service's link to the bus: connection, streams, outbox relay and consumers."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence

from nats.aio.client import Client
from nats.js import JetStreamContext
from opentelemetry.trace import Tracer
from sqlalchemy import Table

from shared.contracts import STREAMS, SUBJECT_ROOT
from shared.db import SessionMaker, is_sqlite
from shared.messaging.connection import connect, ensure_streams
from shared.messaging.consumer import Consumer, ConsumerOptions, ConsumerSpec
from shared.messaging.relay import OutboxRelay
from shared.settings import BaseServiceSettings

log = logging.getLogger(__name__)


def owned_streams(service: str) -> set[str]:
    """The streams whose limits a service keeps: its own producer stream."""
    return {spec.name for spec in STREAMS if spec.subjects == (f"{SUBJECT_ROOT}.{service}.>",)}


class ServiceBus:
    """Starts and stops everything a service does on NATS, in the right order."""

    def __init__(
        self,
        *,
        settings: BaseServiceSettings,
        service: str,
        sessions: SessionMaker,
        writer_sessions: SessionMaker,
        outbox: Table,
        inbox: Table,
        tracer: Tracer,
        consumers: Sequence[ConsumerSpec] = (),
    ) -> None:
        self._settings = settings
        self._service = service
        self._sessions = sessions
        self._writer_sessions = writer_sessions
        self._outbox = outbox
        self._inbox = inbox
        self._tracer = tracer
        self._specs = consumers
        self.nc: Client | None = None
        self.relay: OutboxRelay | None = None
        self.consumers: list[Consumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    @property
    def js(self) -> JetStreamContext:
        if self.nc is None:
            raise RuntimeError("bus not started")
        return self.nc.jetstream()

    def wake_relay(self) -> None:
        if self.relay is not None:
            self.relay.wake()

    def set_consumers(self, specs: Sequence[ConsumerSpec]) -> None:
        """Declared before start: handlers may need the runtime, which is built first."""
        self._specs = specs

    def is_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def start(self) -> None:
        """Connect, declare the streams, then run the relay and the consumers."""
        self.nc = await connect(self._settings, name=self._service)
        js = self.nc.jetstream()
        await ensure_streams(
            js, replicas=self._settings.stream_replicas, owned=owned_streams(self._service)
        )
        self.relay = OutboxRelay(
            sessions=self._sessions,
            writer_sessions=self._writer_sessions,
            table=self._outbox,
            js=js,
            tracer=self._tracer,
            poll_seconds=self._settings.relay_poll_seconds,
            single_writer=is_sqlite(self._settings.database_url),
        )
        options = ConsumerOptions(
            max_deliver=self._settings.max_deliver, ack_wait=self._settings.ack_wait_seconds
        )
        self.consumers = [
            Consumer(
                spec,
                js=js,
                sessions=self._writer_sessions,
                inbox=self._inbox,
                tracer=self._tracer,
                options=options,
            )
            for spec in self._specs
        ]
        self._tasks = [asyncio.create_task(self.relay.run(), name=f"{self._service}-relay")]
        self._tasks += [asyncio.create_task(c.run(), name=c.spec.durable) for c in self.consumers]
        log.info("bus.started", extra={"consumers": len(self.consumers)})

    async def stop(self, *, grace: float = 5.0) -> None:
        """Finish the batches in hand, publish what is committed, then drain."""
        for consumer in self.consumers:
            consumer.stop()
        if self.relay is not None:
            self.relay.stop()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=grace)
            for task in pending:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*pending, return_exceptions=True)
        for consumer in self.consumers:
            await consumer.close()
        if self.nc is not None and not self.nc.is_closed:
            with contextlib.suppress(Exception):
                await self.nc.drain()
        log.info("bus.stopped")
