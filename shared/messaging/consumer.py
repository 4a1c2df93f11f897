"""Durable pull consumers: idempotent handlers, ack after commit, nak, term and dead letters."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from opentelemetry.trace import Tracer
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from shared.contracts import ContractError, Envelope, decode, dlq_subject, stream_for
from shared.db import SessionMaker
from shared.messaging.inbox import applied_among, record_applied
from shared.messaging.purge import TICKET_HEADER
from shared.telemetry import consume_span

log = logging.getLogger(__name__)

Handler = Callable[[AsyncSession, Any], Awaitable[None]]
# A message and how it is settled: applied, duplicate, retry (nak) or dead (dead letter).
Outcome = tuple[Msg, str, BaseException | None]


class PermanentError(Exception):
    """A message that can never be applied: it goes to the dead-letter subject at once."""


@dataclass(frozen=True)
class ConsumerSpec:
    """One durable consumer: `<consumer>-<producer>-<thing>-<verb>` on one subject."""

    service: str
    subject: str
    handler: Handler
    # False for a handler that changes nothing in the database (an idempotent call to
    # NATS, say): it runs outside any transaction, so it holds no write lock while it
    # waits, and keeps no inbox row, so a redelivered message runs it again.
    transactional: bool = True

    @property
    def durable(self) -> str:
        return f"{self.service}-" + "-".join(self.subject.split(".")[1:]).replace("_", "-")


@dataclass(frozen=True)
class ConsumerOptions:
    max_deliver: int = 5
    ack_wait: float = 30.0
    batch: int = 64
    idle_wait: float = 1.0
    backlog_wait: float = 0.05
    backoff_base: float = 0.5
    backoff_max: float = 30.0


def backoff(delivered: int, opts: ConsumerOptions) -> float:
    """Delay before the next delivery of a message that failed `delivered` times."""
    return float(min(opts.backoff_base * 2 ** max(delivered - 1, 0), opts.backoff_max))


class Consumer:
    """Pulls one durable consumer and applies its handler, a batch per transaction."""

    def __init__(
        self,
        spec: ConsumerSpec,
        *,
        js: JetStreamContext,
        sessions: SessionMaker,
        inbox: Table,
        tracer: Tracer,
        options: ConsumerOptions,
    ) -> None:
        self.spec = spec
        self._js = js
        self._sessions = sessions
        self._inbox = inbox
        self._tracer = tracer
        self._opts = options
        self._stopping = False
        self._sub: Any = None
        self.applied = 0

    def stop(self) -> None:
        self._stopping = True

    async def close(self) -> None:
        """Unsubscribe once the loop has ended.

        A plain drain would wait forever on the status messages that expired pull
        requests leave in the subscription's queue.
        """
        if self._sub is not None:
            with contextlib.suppress(Exception):
                await self._sub.unsubscribe()
            self._sub = None

    async def subscribe(self) -> Any:
        stream = stream_for(self.spec.subject).name
        config = ConsumerConfig(
            durable_name=self.spec.durable,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            filter_subject=self.spec.subject,
            ack_wait=self._opts.ack_wait,
            # A margin over our own count, so the server never drops a message we have
            # not dead-lettered.
            max_deliver=self._opts.max_deliver + 2,
            max_ack_pending=10_000,
        )
        return await self._js.pull_subscribe(
            self.spec.subject, durable=self.spec.durable, stream=stream, config=config
        )

    async def run(self) -> None:
        """Fetch and apply until stopped; a batch in hand is always finished."""
        sub = self._sub = await self.subscribe()
        failures = 0
        while not self._stopping:
            try:
                msgs = await self._fetch(sub)
                if msgs:
                    await self.process(msgs)
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - unsettled messages are redelivered
                failures += 1
                log.warning(
                    "consumer.loop_failed",
                    extra={"consumer": self.spec.durable, "error_type": type(exc).__name__},
                )
                await asyncio.sleep(min(0.1 * 2**failures, 5.0))

    async def _fetch(self, sub: Any) -> list[Msg]:
        try:
            # One message blocks until something arrives, and returns the moment it does.
            first: list[Msg] = await sub.fetch(1, timeout=self._opts.idle_wait)
        except (nats.errors.TimeoutError, TimeoutError):
            return []
        # Its metadata says how many wait behind it: ask for exactly those, so the server
        # answers at once instead of holding the request open for a fuller batch.
        pending = first[0].metadata.num_pending if first[0].metadata else 0
        if not pending:
            return first
        try:
            more: list[Msg] = await sub.fetch(
                min(pending, self._opts.batch - 1), timeout=self._opts.backlog_wait
            )
        except (nats.errors.TimeoutError, TimeoutError):
            more = []
        return first + more

    async def process(self, msgs: Sequence[Msg]) -> None:
        """Apply a batch in one transaction: one inbox query, one inbox insert, one commit.

        A message whose handler fails is set apart (nak or dead letter) and the rest of
        the batch is applied again without it, so one bad event never holds back others.
        Handlers run without autoflush: what they add is flushed once, at the commit, and
        a handler finds an earlier handler's new object through `session.get`, not a query.
        """
        settle: list[Outcome] = []
        items: list[tuple[Msg, Any]] = []
        for msg in msgs:
            try:
                items.append((msg, decode(msg.data, subject=msg.subject)))
            except ContractError as exc:
                settle.append((msg, "dead", exc))
        if self.spec.transactional:
            settle += await self._apply_isolating(items)
        else:
            settle += await self._apply_effects(items)
        for msg, outcome, error in settle:
            await self._settle(msg, outcome, error)

    async def _apply_isolating(self, items: Sequence[tuple[Msg, Any]]) -> list[Outcome]:
        """Apply `items` together; a message whose handler fails is set apart, the rest retried."""
        pending = list(items)
        outcomes: list[Outcome] = []
        while pending:
            try:
                return outcomes + await self._apply(pending)
            except _HandlerFailed as failed:
                outcomes.append(_failed(pending[failed.index][0], failed.error))
                del pending[failed.index]
            except Exception as exc:  # noqa: BLE001 - not one message's fault: each on its own
                if len(pending) == 1:
                    return [*outcomes, _failed(pending[0][0], exc)]
                for item in pending:
                    outcomes += await self._apply_isolating([item])
                return outcomes
        return outcomes

    async def _apply(self, items: Sequence[tuple[Msg, Any]]) -> list[Outcome]:
        """Apply `items` and record their ids in one transaction; raises if any fails."""
        outcomes: list[Outcome] = []
        consumer = self.spec.durable
        async with self._sessions() as session, session.begin():
            seen = await applied_among(
                session, self._inbox, consumer=consumer, event_ids=(e.event_id for _, e in items)
            )
            fresh: list[uuid.UUID] = []
            for msg, event in items:
                if event.event_id in seen:
                    outcomes.append((msg, "duplicate", None))
                    continue
                seen.add(event.event_id)
                attrs = {
                    "sanad.event_id": str(event.event_id),
                    "sanad.ticket_id": _ticket_id(event),
                    "messaging.consumer.name": consumer,
                }
                with (
                    consume_span(self._tracer, msg.subject, msg.headers, attrs),
                    session.no_autoflush,
                ):
                    try:
                        await self.spec.handler(session, event)
                    except Exception as exc:
                        raise _HandlerFailed(len(outcomes), exc) from exc
                fresh.append(event.event_id)
                outcomes.append((msg, "applied", None))
            await record_applied(session, self._inbox, consumer=consumer, event_ids=fresh)
        return outcomes

    async def _apply_effects(self, items: Sequence[tuple[Msg, Any]]) -> list[Outcome]:
        """Run a non-transactional handler on each message; each settles on its own."""
        outcomes: list[Outcome] = []
        # Handed to the handler for its signature's sake, never begun.
        async with self._sessions() as session:
            for msg, event in items:
                attrs = {
                    "sanad.event_id": str(event.event_id),
                    "sanad.ticket_id": _ticket_id(event),
                    "messaging.consumer.name": self.spec.durable,
                }
                with consume_span(self._tracer, msg.subject, msg.headers, attrs):
                    try:
                        await self.spec.handler(session, event)
                    except Exception as exc:  # noqa: BLE001 - settled as a retry or dead letter
                        outcomes.append(_failed(msg, exc))
                        continue
                outcomes.append((msg, "applied", None))
        return outcomes

    async def _settle(self, msg: Msg, outcome: str, error: BaseException | None) -> None:
        delivered = msg.metadata.num_delivered if msg.metadata else 1
        if outcome in ("applied", "duplicate"):
            self.applied += outcome == "applied"
            await msg.ack()
            return
        if outcome == "retry" and delivered < self._opts.max_deliver:
            log.warning(
                "consumer.retry",
                extra={
                    "consumer": self.spec.durable,
                    "delivered": delivered,
                    "error_type": type(error).__name__,
                },
            )
            await msg.nak(delay=backoff(delivered, self._opts))
            return
        await self._dead_letter(msg, error, delivered)
        await msg.term()

    async def _dead_letter(self, msg: Msg, error: BaseException | None, delivered: int) -> None:
        seq = msg.metadata.sequence.stream if msg.metadata else 0
        headers = {
            "Nats-Msg-Id": f"{self.spec.durable}:{seq}",
            "Sanad-Original-Subject": msg.subject,
            "Sanad-Consumer": self.spec.durable,
            "Sanad-Error-Type": type(error).__name__ if error else "unknown",
            "Sanad-Delivered": str(delivered),
        }
        if ticket_id := (msg.headers or {}).get(TICKET_HEADER):
            headers[TICKET_HEADER] = ticket_id  # so erasure purges dead letters too
        await self._js.publish(dlq_subject(self.spec.service), msg.data, headers=headers)
        log.error(
            "consumer.dead_lettered",
            extra={
                "consumer": self.spec.durable,
                "stream_seq": seq,
                "error_type": headers["Sanad-Error-Type"],
            },
        )


class _HandlerFailed(Exception):
    """The handler of the message at `index` raised `error`; the transaction is rolled back."""

    def __init__(self, index: int, error: Exception) -> None:
        super().__init__(type(error).__name__)
        self.index = index
        self.error = error


def _failed(msg: Msg, exc: BaseException) -> Outcome:
    return (msg, "dead" if isinstance(exc, PermanentError) else "retry", exc)


def _ticket_id(event: Envelope) -> str:
    return str(event.ticket_id) if event.ticket_id else ""


async def run_all(consumers: Sequence[Consumer]) -> None:
    await asyncio.gather(*(c.run() for c in consumers))
