"""A poison message goes to the dead-letter subject and the tickets behind it still flow."""

from __future__ import annotations

import asyncio

import nats
from nats.aio.msg import Msg

from shared.testing.stack import Stack
from tests.e2e.conftest import eventually, post_ticket, triage_of


async def _publish_poison_and_collect_dead_letters(url: str) -> list[tuple[str, bytes]]:
    nc = await nats.connect(url)
    dead: list[tuple[str, bytes]] = []
    done = asyncio.Event()

    async def collect(msg: Msg) -> None:
        dead.append((msg.subject, msg.data))
        if {s for s, _ in dead} >= {"sanad.dlq.triage", "sanad.dlq.reporting"}:
            done.set()

    await nc.subscribe("sanad.dlq.>", cb=collect)
    js = nc.jetstream()
    await js.publish(
        "sanad.intake.ticket.received", b"{not an event", headers={"Nats-Msg-Id": "poison-1"}
    )
    try:
        await asyncio.wait_for(done.wait(), timeout=20)
    finally:
        await nc.close()
    return dead


def test_a_poison_message_is_dead_lettered_and_later_tickets_still_flow(stack: Stack) -> None:
    dead = asyncio.run(_publish_poison_and_collect_dead_letters(stack.nats_ops_url))

    assert {s for s, _ in dead} >= {"sanad.dlq.triage", "sanad.dlq.reporting"}
    assert all(data == b"{not an event" for _, data in dead)
    ticket = post_ticket(stack)
    assert eventually(lambda: triage_of(stack, ticket["id"]))["priority"] == "P2"
