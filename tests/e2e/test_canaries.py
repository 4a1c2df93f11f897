"""Canary values planted in every personal field appear nowhere they must not."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import nats
from nats.js.api import ConsumerConfig, DeliverPolicy

from shared.auth import Scope
from shared.testing.stack import Stack
from tests.e2e.conftest import eventually, post_ticket, read_tree, summary, triage_of


def _canaries() -> dict[str, str]:
    tag = uuid.uuid4().hex[:12]
    return {
        "name": f"CanaryName{tag}",
        "handle": f"canary.handle.{tag}@example.org",
        "text": f"CanaryText{tag}",
    }


async def _events_reporting_receives(url: str) -> list[bytes]:
    """Every message on the subjects reporting consumes, read back from the streams."""
    nc = await nats.connect(url)
    js = nc.jetstream()
    payloads: list[bytes] = []
    try:
        for stream, subject in (
            ("SANAD_INTAKE", "sanad.intake.>"),
            ("SANAD_TRIAGE", "sanad.triage.>"),
        ):
            sub = await js.pull_subscribe(
                subject, stream=stream, config=ConsumerConfig(deliver_policy=DeliverPolicy.ALL)
            )
            while True:
                try:
                    msgs = await sub.fetch(100, timeout=1)
                except nats.errors.TimeoutError:
                    break
                payloads += [m.data + repr(m.headers).encode() for m in msgs]
    finally:
        await nc.close()
    return payloads


def test_canaries_reach_no_span_log_event_for_reporting_metric_or_file(stack: Stack) -> None:
    canary = _canaries()
    ticket = post_ticket(
        stack,
        text=f"My account was hacked and they threaten to kill me. {canary['text']}",
        requester_name=canary["name"],
        contact={"channel": "email", "handle": canary["handle"]},
        requester_role="activist",
    )
    eventually(lambda: triage_of(stack, ticket["id"]))
    eventually(lambda: summary(stack)["tickets_triaged"] != 0)

    # The handler gets the plaintext back: the canaries were really stored.
    read = httpx.get(
        f"{stack.url('intake')}/v1/tickets/{ticket['id']}",
        headers=stack.auth(Scope.handler),
        timeout=10,
    ).json()
    assert read["requester"]["name"] == canary["name"]
    assert canary["text"] in read["messages"][0]["text"]

    answers = [
        httpx.get(f"{stack.url(n)}/metrics", headers=stack.auth(Scope.ops), timeout=10).text
        for n in stack.services
    ]
    answers.append(
        httpx.get(
            f"{stack.url('reporting')}/v1/metrics/summary",
            headers=stack.auth(Scope.analyst),
            timeout=10,
        ).text
    )
    events = asyncio.run(_events_reporting_receives(stack.nats_ops_url))
    assert events, "the streams hold the journey's events"
    files = read_tree(stack.var_dir)
    assert any(p.suffix == ".jsonl" for p in files), "spans were exported"

    for value in canary.values():
        needle = value.encode()
        assert not [p for p, data in files.items() if needle in data], value
        assert not [e for e in events if needle in e], value
        assert not [a for a in answers if value in a], value
