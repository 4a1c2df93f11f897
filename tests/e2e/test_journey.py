"""One ticket's journey: intake stores it, triage classifies it, reporting counts it."""

from __future__ import annotations

import json

import httpx

from shared.auth import Scope
from shared.testing.stack import Stack
from tests.e2e.conftest import eventually, post_ticket, summary, triage_of


def test_a_posted_ticket_is_triaged_and_counted(stack: Stack) -> None:
    accepted = [post_ticket(stack, requester_role="journalist") for _ in range(5)]

    for ticket in accepted:
        ticket_id: str = ticket["id"]
        triage = eventually(lambda: triage_of(stack, ticket_id))  # noqa: B023 - called at once
        assert triage["category"] == "account_compromise"
        assert triage["priority"] == "P2"
    counts = eventually(lambda: (s := summary(stack))["tickets_triaged"] == 5 and s)
    assert counts["tickets_received"] == 5
    assert counts["by_priority"] == {"P2": 5}
    assert counts["by_category"] == {"account_compromise": 5}


def test_a_handler_reads_the_ticket_decrypted_with_its_triage(stack: Stack) -> None:
    ticket = post_ticket(
        stack,
        text="They published my home address and threaten to kill me",
        requester_name="Rana",
        contact={"channel": "signal", "handle": "+961 70 000 000"},
    )
    eventually(lambda: triage_of(stack, ticket["id"]))

    def read() -> dict[str, object] | None:
        response = httpx.get(
            f"{stack.url('intake')}/v1/tickets/{ticket['id']}",
            headers=stack.auth(Scope.handler),
            timeout=10,
        )
        assert response.status_code == 200
        body: dict[str, object] = response.json()
        return body if body["triage"] else None

    body = eventually(read)
    assert body["reference"] == ticket["reference"]
    assert body["requester"]["name"] == "Rana"  # type: ignore[index]
    assert body["requester"]["contact"]["handle"] == "+961 70 000 000"  # type: ignore[index]
    assert body["messages"][0]["text"].startswith("They published")  # type: ignore[index]
    assert body["triage"]["priority"] == "P1"  # type: ignore[index]


def test_one_ticket_is_one_trace_across_services(stack: Stack) -> None:
    ticket = post_ticket(stack)
    eventually(lambda: triage_of(stack, ticket["id"]))

    def services_in_trace() -> set[str] | None:
        spans = [
            json.loads(line)
            for path in (stack.var_dir / "traces").glob("*.jsonl")
            for line in path.read_text().splitlines()
            if line.strip()
        ]
        trace_ids = {
            s["trace_id"] for s in spans if s["attributes"].get("sanad.ticket_id") == ticket["id"]
        }
        if len(trace_ids) != 1:
            return None
        services = {s["service"] for s in spans if s["trace_id"] in trace_ids}
        return services if {"intake", "triage", "reporting"} <= services else None

    assert {"intake", "triage", "reporting"} <= eventually(services_in_trace)


def test_the_public_submission_needs_no_token_but_reads_do(stack: Stack) -> None:
    ticket = post_ticket(stack)
    url = f"{stack.url('intake')}/v1/tickets/{ticket['id']}"

    assert httpx.get(url, timeout=10).status_code == 401
    assert httpx.get(url, headers=stack.auth(Scope.analyst), timeout=10).status_code == 403
    missing = httpx.get(
        f"{stack.url('reporting')}/v1/metrics/summary",
        headers=stack.auth(Scope.handler),
        timeout=10,
    )
    assert missing.status_code == 403
    assert missing.headers["content-type"].startswith("application/problem+json")
