"""Erasure reaches the streams: an erased ticket's sealed messages are deleted from NATS.

The requester's data key is destroyed by intake (test_erasure.py); what is left to
prove here is that the copies of their words on the bus, sealed for triage and kept
by the stream for days, are securely deleted too, through the service's own NATS
permissions, while other people's messages stay.
"""

from __future__ import annotations

import asyncio

import httpx
import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from shared.auth import Scope
from shared.messaging.purge import TICKET_HEADER
from shared.testing.stack import Stack
from tests.e2e.conftest import eventually, post_ticket, triage_of

SEALED = ("sanad.intake.ticket.received", "sanad.intake.ticket.message_added")


async def _tickets_on_stream(url: str) -> dict[str, int]:
    """How many sealed-text messages the intake stream holds, per ticket id header."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    counts: dict[str, int] = {}
    try:
        config = ConsumerConfig(
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            headers_only=True,
            filter_subjects=list(SEALED),
        )
        info = await js.add_consumer("SANAD_INTAKE", config=config)
        sub = await js.pull_subscribe_bind(consumer=info.name, stream="SANAD_INTAKE")
        remaining = info.num_pending or 0
        while remaining > 0:
            msgs = await sub.fetch(min(remaining, 256), timeout=5)
            remaining -= len(msgs)
            for msg in msgs:
                ticket = (msg.headers or {}).get(TICKET_HEADER, "")
                counts[ticket] = counts.get(ticket, 0) + 1
        await js.delete_consumer("SANAD_INTAKE", info.name)
    finally:
        await nc.close()
    return counts


def test_erasing_a_requester_deletes_their_sealed_messages_from_the_stream(stack: Stack) -> None:
    kept = post_ticket(stack, text="My Instagram account was hacked yesterday")
    erased = post_ticket(stack, text="Someone is threatening me on WhatsApp")
    eventually(lambda: triage_of(stack, kept["id"]))
    eventually(lambda: triage_of(stack, erased["id"]))
    before = asyncio.run(_tickets_on_stream(stack.nats_ops_url))
    assert before.get(kept["id"], 0) >= 1
    assert before.get(erased["id"], 0) >= 1

    ticket = httpx.get(
        f"{stack.url('intake')}/v1/tickets/{erased['id']}",
        headers=stack.auth(Scope.handler),
        timeout=10,
    ).json()
    response = httpx.delete(
        f"{stack.url('intake')}/v1/requesters/{ticket['requester']['id']}",
        headers=stack.auth(Scope.coordinator),
        timeout=10,
    )
    assert response.status_code == 200, response.text

    def purged() -> dict[str, int] | None:
        counts = asyncio.run(_tickets_on_stream(stack.nats_ops_url))
        return None if erased["id"] in counts else counts

    after = eventually(purged)
    assert after.get(kept["id"]) == before[kept["id"]]
