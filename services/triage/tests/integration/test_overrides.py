"""PUT /v1/triage/{id}: a handler's override, its history, its event and its export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

import httpx
import pytest

from services.triage.tests.conftest import Triaged
from services.triage.tests.integration.events import staged
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import TicketReprioritised
from shared.testing.fixtures import Auth

REASON = "canary-Rania-Haddad says the caller knows her street"
OVERRIDE: dict[str, Any] = {
    "category": "threats",
    "flags": ["physical_threat"],
    "priority": "P1",
    "reason": REASON,
}
REPRIORITISED = "sanad.triage.ticket.reprioritised"


async def put(
    client: httpx.AsyncClient, auth: Auth, ticket_id: uuid.UUID, body: dict[str, Any] = OVERRIDE
) -> httpx.Response:
    return await client.put(f"/v1/triage/{ticket_id}", json=body, headers=await auth(Scope.handler))


async def test_an_override_applies_and_keeps_the_classifier_answer_and_the_history(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    ticket_id = await triaged("Someone hacked my email account and changed the password")

    response = await put(client, auth, ticket_id)

    assert response.status_code == 200
    body = response.json()
    assert (body["category"], body["flags"], body["priority"]) == (
        "threats",
        ["physical_threat"],
        "P1",
    )
    assert body["classifier"] == {
        "category": "account_compromise",
        "flags": [],
        "priority": "P2",
    }
    assert "account_compromise" in body["secondary_categories"]
    (change,) = body["changes"]
    assert change["source"] == "override"
    assert (change["from_priority"], change["priority"]) == ("P2", "P1")
    assert change["reason"] == REASON
    assert change["actor_id"]
    read = await client.get(f"/v1/triage/{ticket_id}", headers=await auth(Scope.handler))
    assert read.json()["changes"] == body["changes"]


async def test_an_override_is_announced_without_the_reason(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged("Someone hacked my email account and changed the password")

    await put(client, auth, ticket_id)

    (event,) = await staged(runtime, REPRIORITISED)
    assert isinstance(event, TicketReprioritised)
    assert event.ticket_id == ticket_id
    data = event.data
    assert (data.reason, data.from_priority, data.priority) == ("override", "P2", "P1")
    assert (data.from_category, data.category) == ("account_compromise", "threats")
    assert data.flags == ("physical_threat",)
    assert data.sla_due_at is not None
    assert "Rania" not in event.model_dump_json()


async def test_the_same_override_twice_changes_nothing_more(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, runtime: Runtime
) -> None:
    ticket_id = await triaged()

    await put(client, auth, ticket_id)
    second = await put(client, auth, ticket_id)

    assert len(second.json()["changes"]) == 1
    assert len(await staged(runtime, REPRIORITISED)) == 1


async def test_a_second_override_keeps_the_first_classifier_answer(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    ticket_id = await triaged("Someone hacked my email account and changed the password")
    await put(client, auth, ticket_id)

    response = await put(
        client,
        auth,
        ticket_id,
        {**OVERRIDE, "category": "harassment", "flags": [], "priority": "P3"},
    )

    body = response.json()
    assert body["classifier"]["category"] == "account_compromise"
    assert [c["priority"] for c in body["changes"]] == ["P1", "P3"]


async def test_overriding_a_ticket_not_triaged_is_a_404(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    response = await put(client, auth, uuid.uuid4())

    assert response.status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {**OVERRIDE, "reason": ""},
        {**OVERRIDE, "priority": "P0"},
        {**OVERRIDE, "flags": ["haunted"]},
        {key: v for key, v in OVERRIDE.items() if key != "reason"},
    ],
)
async def test_an_invalid_override_is_refused_without_echoing_it(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged, body: dict[str, Any]
) -> None:
    ticket_id = await triaged()

    response = await put(client, auth, ticket_id, body)

    assert response.status_code == 422
    assert "Rania" not in response.text


@pytest.mark.parametrize(
    ("scope", "status"), [(None, 401), (Scope.analyst, 403), (Scope.service, 403)]
)
async def test_overriding_needs_a_handler_or_coordinator(
    client: httpx.AsyncClient, auth: Auth, scope: Scope | None, status: int
) -> None:
    headers = await auth(scope) if scope else {}

    response = await client.put(f"/v1/triage/{uuid.uuid4()}", json=OVERRIDE, headers=headers)

    assert response.status_code == status


# --- export -------------------------------------------------------------------


async def test_overrides_export_as_labelled_jsonl_without_text(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    ticket_id = await triaged("Someone hacked my email account and changed the password")
    await triaged("My phone was confiscated at the border this morning")
    await put(client, auth, ticket_id)

    response = await client.get(
        "/v1/triage/overrides/export", headers=await auth(Scope.coordinator)
    )

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    (row,) = [json.loads(line) for line in response.text.splitlines()]
    assert row["ticket_id"] == str(ticket_id)
    assert (row["classifier_category"], row["classifier_priority"]) == ("account_compromise", "P2")
    assert (row["label_category"], row["label_flags"], row["label_priority"]) == (
        "threats",
        ["physical_threat"],
        "P1",
    )
    assert row["language"] == "en"
    assert "Rania" not in response.text
    assert "hacked" not in response.text


async def test_overrides_export_as_csv(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    ticket_id = await triaged()
    await put(client, auth, ticket_id)

    response = await client.get(
        "/v1/triage/overrides/export?format=csv", headers=await auth(Scope.analyst)
    )

    assert response.headers["content-type"].startswith("text/csv")
    (row,) = list(csv.DictReader(io.StringIO(response.text)))
    assert (row["ticket_id"], row["label_flags"]) == (str(ticket_id), "physical_threat")


@pytest.mark.parametrize(("scope", "status"), [(None, 401), (Scope.handler, 403)])
async def test_the_export_needs_a_coordinator_or_analyst(
    client: httpx.AsyncClient, auth: Auth, scope: Scope | None, status: int
) -> None:
    headers = await auth(scope) if scope else {}

    response = await client.get("/v1/triage/overrides/export", headers=headers)

    assert response.status_code == status
