"""Reporting's fold rate: events through the real consumer code (decode, inbox, handler, commit).

    python -m bench.reporting [--tickets N] [--batch B]

Each ticket is a `ticket.received` and a `ticket.triaged`; they are handed to
`Consumer.process` in batches as JetStream would deliver them (no nats-server: the
messages are stand-ins that record their ack), on a fresh SQLite file.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from opentelemetry.trace import NoOpTracer

from services.reporting.consumers import SPECS
from services.reporting.main import DEFINITION
from shared.app import service_tables
from shared.contracts import Category, Envelope, Priority, RequesterRole, encode
from shared.db import make_engine, make_sessionmaker
from shared.messaging.consumer import Consumer, ConsumerOptions
from shared.migrations import upgrade_to_head
from shared.testing.events import RECEIVED_AT, ticket_received, ticket_triaged


@dataclass
class FakeMsg:
    """What `Consumer.process` reads of a JetStream message."""

    subject: str
    data: bytes
    headers: dict[str, str] = field(default_factory=dict)
    metadata: Any = field(
        default_factory=lambda: SimpleNamespace(num_delivered=1, sequence=SimpleNamespace(stream=0))
    )
    acked: bool = False

    async def ack(self) -> None:
        self.acked = True


def events(tickets: int) -> list[Envelope]:
    rng = random.Random(7)
    out: list[Envelope] = []
    for i in range(tickets):
        ticket_id = uuid.uuid4()
        at = RECEIVED_AT + timedelta(minutes=i)
        role = rng.choice(list(RequesterRole))
        out.append(ticket_received(ticket_id=ticket_id, received_at=at, requester_role=role))
        out.append(
            ticket_triaged(
                ticket_id=ticket_id,
                category=rng.choice(list(Category)),
                priority=rng.choice(list(Priority)),
                received_at=at,
                triaged_at=at + timedelta(minutes=3),
                requester_role=role,
            )
        )
    return out


async def fold_rate(tickets: int, batch: int, directory: Path) -> float:
    engine = make_engine(f"sqlite+aiosqlite:///{directory / 'reporting.db'}", writer=True)
    _, inbox = service_tables(DEFINITION.metadata)
    assert DEFINITION.migrations is not None
    await upgrade_to_head(engine, DEFINITION.migrations)
    sessions = make_sessionmaker(engine)
    by_subject = {
        spec.subject: Consumer(
            spec,
            js=None,  # type: ignore[arg-type]
            sessions=sessions,
            inbox=inbox,
            tracer=NoOpTracer(),
            options=ConsumerOptions(batch=batch),
        )
        for spec in SPECS
    }
    msgs = [FakeMsg(e.type, encode(e)) for e in events(tickets)]
    start = time.perf_counter()
    for subject, consumer in by_subject.items():
        mine = [m for m in msgs if m.subject == subject]
        for i in range(0, len(mine), batch):
            await consumer.process(mine[i : i + batch])  # type: ignore[arg-type]
    elapsed = time.perf_counter() - start
    await engine.dispose()
    assert all(m.acked for m in msgs)
    return len(msgs) / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--tickets", type=int, default=10_000)
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rate = asyncio.run(fold_rate(args.tickets, args.batch, Path(tmp)))
    print(f"fold: {2 * args.tickets} events in batches of {args.batch}: {rate:,.0f} events/s")


if __name__ == "__main__":
    main()
