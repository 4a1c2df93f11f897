"""Operations metrics on /metrics: tickets by state, queue depth per priority, SLA breaches,
consumer lag per durable consumer, dead letters per service.

Every label is a state, a priority, a consumer or a service name: nothing about a person.

Prometheus collects synchronously, and reading JetStream or the database is not: a
background task refreshes a snapshot every `REFRESH_SECONDS`, and a scrape reads it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from nats.js.errors import NotFoundError
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from services.reporting import repository
from shared.app import Runtime
from shared.contracts import DLQ_PREFIX, stream_for
from shared.db import SessionMaker
from shared.messaging.consumer import ConsumerSpec

log = logging.getLogger(__name__)

REFRESH_SECONDS = 15.0
DLQ_STREAM = "SANAD_DLQ"


@dataclass
class OpsSnapshot:
    """The latest figures read; a scrape before the first refresh shows none."""

    pending: dict[str, int] = field(default_factory=dict)
    # Delivered but not yet acknowledged: a consumer stuck on a batch shows here.
    ack_pending: dict[str, int] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    sla_breaches: dict[str, int] = field(default_factory=dict)
    # Tickets as they stand now: (gauge, label) -> count; see domain.ticket_gauges.
    tickets: dict[tuple[str, str], int] = field(default_factory=dict)


class OpsCollector(Collector):
    def __init__(self, snapshot: OpsSnapshot) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        snap = self._snapshot
        pending = GaugeMetricFamily(
            "sanad_consumer_pending",
            "Messages not yet delivered to a durable consumer (its lag)",
            labels=["consumer"],
        )
        for durable, n in sorted(snap.pending.items()):
            pending.add_metric([durable], n)
        unacked = GaugeMetricFamily(
            "sanad_consumer_ack_pending",
            "Messages delivered to a durable consumer and not yet acknowledged",
            labels=["consumer"],
        )
        for durable, n in sorted(snap.ack_pending.items()):
            unacked.add_metric([durable], n)
        dead = GaugeMetricFamily(
            "sanad_dead_letters", "Messages held in the dead-letter stream", labels=["service"]
        )
        for service, n in sorted(snap.dead_letters.items()):
            dead.add_metric([service], n)
        breaches = GaugeMetricFamily(
            "sanad_sla_breaches",
            "Tickets that missed their first-response target, by current priority",
            labels=["priority"],
        )
        for priority, n in sorted(snap.sla_breaches.items()):
            breaches.add_metric([priority], n)
        return [pending, unacked, dead, breaches, *self._tickets(snap)]

    @staticmethod
    def _tickets(snap: OpsSnapshot) -> list[Metric]:
        by_state = GaugeMetricFamily(
            "sanad_tickets", "Tickets by their current status at intake", labels=["state"]
        )
        unanswered = GaugeMetricFamily(
            "sanad_queue_unanswered",
            "Open tickets with no reply to the requester yet, by priority",
            labels=["priority"],
        )
        unassigned = GaugeMetricFamily(
            "sanad_queue_unassigned",
            "Open tickets no handler holds, by priority",
            labels=["priority"],
        )
        families = {"tickets": by_state, "unanswered": unanswered, "unassigned": unassigned}
        for (name, value), n in sorted(snap.tickets.items()):
            if name in families:
                families[name].add_metric([value], n)
        return list(families.values())


async def refresh(
    snapshot: OpsSnapshot,
    *,
    js: JetStreamContext | None,
    sessions: SessionMaker,
    specs: Sequence[ConsumerSpec],
) -> None:
    """Read the ticket gauges and SLA breaches, each consumer's pending count, the dead
    letters per service."""
    async with sessions() as session:
        found = await repository.totals(session, ("sla_breached",), None, None)
        snapshot.tickets = await repository.gauges(session)
    snapshot.sla_breaches = {priority: n for (_, priority), n in found.items()}
    if js is None:
        return
    for spec in specs:
        try:
            info = await js.consumer_info(stream_for(spec.subject).name, spec.durable)
        except NotFoundError:
            continue  # not made yet (its consumer starts later): the others still count
        snapshot.pending[spec.durable] = int(info.num_pending or 0)
        snapshot.ack_pending[spec.durable] = int(info.num_ack_pending or 0)
    dlq = await js.stream_info(DLQ_STREAM, subjects_filter=f"{DLQ_PREFIX}.>")
    snapshot.dead_letters = {
        subject.removeprefix(f"{DLQ_PREFIX}."): int(n)
        for subject, n in (dlq.state.subjects or {}).items()
    }


def install(runtime: Runtime, specs: Sequence[ConsumerSpec]) -> OpsSnapshot:
    """Register the collector and start refreshing it; stopped with the service."""
    snapshot = OpsSnapshot()
    runtime.registry.register(OpsCollector(snapshot))

    async def loop() -> None:
        while True:
            try:
                js = runtime.bus.js if runtime.bus.is_connected() else None
                await refresh(snapshot, js=js, sessions=runtime.sessions, specs=specs)
            except Exception as exc:  # noqa: BLE001 - a metric is never worth a crash
                log.warning("ops.refresh_failed", extra={"error_type": type(exc).__name__})
            await asyncio.sleep(REFRESH_SECONDS)

    task = asyncio.create_task(loop(), name="reporting-ops-metrics")

    async def stop() -> None:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runtime.on_stop.append(stop)
    return snapshot
