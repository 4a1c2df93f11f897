"""Secure deletion of an erased ticket's messages from the streams.

Crypto-shredding destroys a requester's data key, but the events intake published
for triage carry the message text sealed for triage's key, and a stream keeps them
for days (contracts.STREAMS). So erasure also deletes those messages: the relay
stamps every message with the ticket it is about (`TICKET_HEADER`), a headers-only
scan finds their sequence numbers without moving a payload, and each one is
deleted with the server's default secure erase (overwritten, not just unlinked).
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Collection, Sequence

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

TICKET_HEADER = "Sanad-Ticket-Id"


async def purge_ticket_messages(
    js: JetStreamContext,
    *,
    stream: str,
    subjects: Sequence[str],
    ticket_ids: Collection[str],
    scanner: str,
    batch: int = 512,
    fetch_timeout: float = 2.0,
) -> int:
    """Securely delete the messages on `subjects` of `stream` about `ticket_ids`; how many.

    `scanner` names the short-lived consumer the scan reads through; a fixed name lets
    the NATS permissions grant exactly it, and a scan left behind by a crash is removed
    before the next one starts. Idempotent: a message already gone is not found again.
    """
    wanted = set(ticket_ids)
    if not wanted:
        return 0
    with contextlib.suppress(NotFoundError):
        await js.delete_consumer(stream, scanner)
    config = ConsumerConfig(
        name=scanner,
        filter_subjects=list(subjects),
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.NONE,
        headers_only=True,
        mem_storage=True,
        # Gone on its own if this process dies mid-scan.
        inactive_threshold=60.0,
    )
    info = await js.add_consumer(stream, config=config)
    remaining = info.num_pending or 0
    sub = await js.pull_subscribe_bind(consumer=scanner, stream=stream)
    found: list[int] = []
    try:
        # Bounded by the messages the stream held when the scan began.
        while remaining > 0:
            try:
                msgs = await sub.fetch(min(batch, remaining), timeout=fetch_timeout)
            except (nats.errors.TimeoutError, TimeoutError):
                break
            for msg in msgs:
                remaining -= 1
                headers = msg.headers or {}
                if headers.get(TICKET_HEADER) in wanted and msg.metadata is not None:
                    found.append(msg.metadata.sequence.stream)
            if msgs and msgs[-1].metadata is not None:
                remaining = min(remaining, msgs[-1].metadata.num_pending)
    finally:
        with contextlib.suppress(Exception):
            await sub.unsubscribe()
        with contextlib.suppress(Exception):
            await js.delete_consumer(stream, scanner)
    deleted = 0
    for seq in found:
        try:
            await js.delete_msg(stream, seq)
        except NotFoundError:
            continue  # removed meanwhile (age limit, or a scan that crashed before)
        deleted += 1
    log.info("stream.purged", extra={"stream": stream, "messages": deleted})
    return deleted


def ticket_of(payload: bytes) -> str | None:
    """The ticket id of an encoded event, for `TICKET_HEADER` (None for events of no ticket)."""
    try:
        value = json.loads(payload).get("ticket_id")
    except (ValueError, AttributeError):
        return None
    return value if isinstance(value, str) else None
