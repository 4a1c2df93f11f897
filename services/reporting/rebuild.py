"""Rebuild the read model from the streams: `python -m services.reporting.rebuild`.

Drops every fact and counter, then reads each producer stream from sequence 1 with an
ordered ephemeral consumer and folds every event through the live consumers' own handlers,
a batch per transaction. The handlers merge by value, so the result does not depend on the
order the streams are read in, and an event read twice changes nothing.

RETENTION: the streams keep events for 7 days (`StreamSpec.max_age`). Once a stream has
dropped its first messages a rebuild can only count what is left, and would erase older
history from the figures: it then refuses unless run with `--allow-loss`.

Run it with the reporting service stopped (a live consumer writing between the drop and the
end of the replay is harmless but wasted), and with NATS credentials allowed to create an
ephemeral consumer on the producer streams (the `ops` user: `REPORTING_NATS_USER=ops`);
the reporting service's own user may only use its durable consumers.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from services.reporting import repository
from services.reporting.config import ReportingSettings
from services.reporting.consumers import HANDLERS
from shared.contracts import STREAMS, ContractError, Envelope, decode
from shared.db import SessionMaker, make_engine, make_sessionmaker, transaction
from shared.messaging.connection import connect

log = logging.getLogger(__name__)

# The streams events come from; dead letters are copies, never folded twice.
SOURCE_STREAMS = tuple(s.name for s in STREAMS if s.name != "SANAD_DLQ")


class HistoryLost(Exception):
    """A stream no longer holds its first events: a rebuild would lose figures."""


@dataclass
class RebuildResult:
    folded: int = 0
    skipped: int = 0
    per_stream: dict[str, int] = field(default_factory=dict)


async def rebuild(
    *,
    js: JetStreamContext,
    sessions: SessionMaker,
    batch: int = 500,
    allow_loss: bool = False,
    streams: Sequence[str] = SOURCE_STREAMS,
) -> RebuildResult:
    """Drop the read model and fold every event the streams hold, `batch` per transaction."""
    ends: dict[str, int] = {}
    for name in streams:
        state = (await js.stream_info(name)).state
        if state.first_seq > 1 and not allow_loss:
            raise HistoryLost(f"{name} starts at sequence {state.first_seq}: events aged out")
        ends[name] = state.last_seq if state.messages else 0
    async with transaction(sessions) as session:
        await repository.clear_read_model(session)
    result = RebuildResult()
    for name, last in ends.items():
        result.per_stream[name] = await _replay(js, sessions, name, last, batch, result)
    log.info("reporting.rebuilt", extra={"folded": result.folded, "skipped": result.skipped})
    return result


async def _replay(
    js: JetStreamContext,
    sessions: SessionMaker,
    stream: str,
    last: int,
    batch: int,
    result: RebuildResult,
) -> int:
    """Fold one stream up to sequence `last`; returns how many events were folded."""
    if last == 0:
        return 0
    subjects = next(s.subjects for s in STREAMS if s.name == stream)
    sub = await js.subscribe(
        subjects[0], stream=stream, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    folded, pending = 0, list[Envelope]()
    try:
        seq = 0
        while seq < last:
            try:
                msg = await sub.next_msg(timeout=5.0)
            except nats.errors.TimeoutError:
                break  # the rest aged out while we read
            seq = msg.metadata.sequence.stream if msg.metadata else seq + 1
            try:
                event = decode(msg.data, subject=msg.subject)
            except ContractError:
                result.skipped += 1  # dead-lettered when it was live
                continue
            if event.type in HANDLERS:
                pending.append(event)
            if len(pending) >= batch:
                folded += await _fold(sessions, pending, result)
                pending = []
        folded += await _fold(sessions, pending, result)
    finally:
        await sub.unsubscribe()
    return folded


async def _fold(sessions: SessionMaker, events: Sequence[Envelope], result: RebuildResult) -> int:
    """One transaction for the batch; if a handler refuses an event, each on its own."""
    try:
        async with transaction(sessions) as session:
            for event in events:
                await HANDLERS[event.type](session, event)
    except Exception:  # noqa: BLE001 - the live consumer dead-lettered the same event
        folded = 0
        for event in events:
            try:
                async with transaction(sessions) as session:
                    await HANDLERS[event.type](session, event)
                folded += 1
            except Exception:  # noqa: BLE001
                result.skipped += 1
                log.warning("reporting.rebuild_skipped", extra={"event_type": event.type})
        result.folded += folded
        return folded
    result.folded += len(events)
    return len(events)


async def _main(allow_loss: bool, batch: int) -> int:
    settings = ReportingSettings()
    engine = make_engine(settings.database_url, writer=True)
    nc = await connect(settings, name="reporting-rebuild")
    try:
        result = await rebuild(
            js=nc.jetstream(),
            sessions=make_sessionmaker(engine),
            batch=batch,
            allow_loss=allow_loss,
        )
    except HistoryLost as exc:
        sys.stderr.write(f"refused: {exc}; run with --allow-loss to rebuild from what is left\n")
        return 2
    finally:
        await nc.drain()
        await engine.dispose()
    sys.stdout.write(f"folded {result.folded}, skipped {result.skipped}: {result.per_stream}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m services.reporting.rebuild")
    parser.add_argument("--allow-loss", action="store_true", help="rebuild from what is left")
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)
    return asyncio.run(_main(args.allow_loss, args.batch))


if __name__ == "__main__":
    sys.exit(main())
