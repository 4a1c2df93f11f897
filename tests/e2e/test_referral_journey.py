"""A partner's referral through the whole of a helpline: escalation, intake, triage, reporting.

Helpline A runs all four services; helpline B, the partner, runs its escalation
alone (its cases are seeded on its bus). B refers a case to A over HTTP, signed;
A's escalation verifies it and announces it, A's intake opens a ticket for the
person, vouched for by the partner and with the consent the referral carries,
triage classifies it, and reporting counts the referral. Canary strings in the
partner's summary and in the person's contact show up nowhere in A's files,
logs or traces in plaintext.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from shared.auth import Scope
from shared.testing.stack import Stack, start_stack
from tests.e2e.conftest import eventually, read_tree, triage_of
from tests.e2e.test_two_helplines import IDS, _env, _referral, _register, _seed_case, _url

A, B = IDS


@pytest.fixture(scope="module")
def helplines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    started: dict[str, Stack] = {}
    try:
        started[A] = start_stack(tmp_path_factory.mktemp(A), extra_env=_env(A))
        started[B] = start_stack(
            tmp_path_factory.mktemp(B), services=("escalation",), extra_env=_env(B)
        )
        _register(started[A], started[B], B)
        _register(started[B], started[A], A)
        yield started
    finally:
        for stack in started.values():
            stack.stop()


def _refer_with(stack: Stack, ticket_id: uuid.UUID, body: dict[str, Any]) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        response = httpx.post(
            _url(stack, "/v1/referrals/outbound"),
            json={"ticket_id": str(ticket_id), "partner_id": A, **body},
            headers=stack.auth(Scope.handler),
            timeout=10,
        )
        # 409 while the seeded case is still on its way to B's escalation.
        assert response.status_code in (201, 409), response.text
        return response.json() if response.status_code == 201 else None

    return eventually(attempt)


def _ticket(stack: Stack, ticket_id: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{stack.url('intake')}/v1/tickets/{ticket_id}",
        headers=stack.auth(Scope.handler),
        timeout=10,
    )
    return response.json() if response.status_code == 200 else None


def _referrals_counted(stack: Stack) -> bool:
    """Whether reporting counts a referral (one shows as "<5": never the exact small count)."""
    response = httpx.get(
        f"{stack.url('reporting')}/v1/reports/referrals",
        headers=stack.auth(Scope.analyst),
        timeout=10,
    )
    return response.status_code == 200 and response.json()["total"] not in (0, "0")


def test_a_referral_from_a_partner_becomes_a_vouched_triaged_ticket_and_leaks_nothing(
    helplines: dict[str, Stack],
) -> None:
    a, b = helplines[A], helplines[B]
    tag = uuid.uuid4().hex[:10]
    canary = {"summary": f"CanarySummary{tag}", "contact": f"+9617{int(tag[:6], 16) % 10**6:06d}"}
    case = _seed_case(b)

    sent = _refer_with(
        b,
        case,
        {
            "summary": f"Her Facebook account was hacked and they threaten to kill her. "
            f"{canary['summary']}",
            "actions_taken": ["Reset the password"],
            "ask": "Please call her on Signal",
            "tlp": "TLP:AMBER",
            "share_contact": True,
            "contact_channel": "signal",
            "contact": canary["contact"],
        },
    )

    received = eventually(lambda: _referral(a, sent["id"]), timeout=30)
    assert (received["direction"], received["partner_id"]) == ("inbound", B)
    ticket = eventually(lambda: _ticket(a, received["ticket_id"]), timeout=30)
    assert ticket["channel"] == "referral"
    assert ticket["requester"]["vetting_state"] == "vouched_by_partner"
    assert ticket["requester"]["contact"] == {
        "channel": "signal",
        "handle": canary["contact"],
        "safe_times": None,
        "avoid": [],
    }
    assert canary["summary"] in ticket["messages"][0]["text"]
    triaged = eventually(lambda: triage_of(a, received["ticket_id"]), timeout=30)
    assert triaged["priority"] == "P1"  # a threat to kill comes first
    eventually(lambda: _referrals_counted(a), timeout=30)

    # Nothing of the person in plaintext anywhere under A's var/ (databases, NATS store,
    # traces, logs), nor B's: both keep the referral encrypted.
    for stack in (a, b):
        for path, data in read_tree(stack.var_dir).items():
            for value in canary.values():
                assert value.encode() not in data, f"{value} in {path}"
