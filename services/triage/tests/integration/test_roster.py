"""/v1/roster: coordinators keep the handler roster, handlers read it; the workload view."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from services.triage.tests.conftest import Triaged
from shared.auth import Scope
from shared.testing.fixtures import Auth

NOUR: dict[str, Any] = {
    "handler_id": "nour",
    "label": "Nour (Beirut desk)",
    "languages": ["ar", "en"],
    "expertise": ["sextortion", "harassment"],
    "max_open": 4,
}


async def add(client: httpx.AsyncClient, auth: Auth, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/v1/roster", json=body, headers=await auth(Scope.coordinator))


async def test_a_coordinator_adds_a_handler_and_a_handler_reads_the_roster(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    created = await add(client, auth, NOUR)

    assert created.status_code == 201
    assert created.json()["available"] is True
    listed = await client.get("/v1/roster", headers=await auth(Scope.handler))
    assert listed.status_code == 200
    (entry,) = listed.json()
    assert (entry["handler_id"], entry["languages"], entry["open_tickets"]) == (
        "nour",
        ["ar", "en"],
        0,
    )
    one = await client.get("/v1/roster/nour", headers=await auth(Scope.handler))
    assert one.json()["expertise"] == ["sextortion", "harassment"]


async def test_an_update_changes_only_the_fields_given(
    client: httpx.AsyncClient, auth: Auth
) -> None:
    await add(client, auth, {**NOUR, "token_id": "tok12345"})

    response = await client.patch(
        "/v1/roster/nour", json={"available": False}, headers=await auth(Scope.coordinator)
    )

    body = response.json()
    assert response.status_code == 200
    assert (body["available"], body["max_open"], body["token_id"]) == (False, 4, "tok12345")
    unlinked = await client.patch(
        "/v1/roster/nour", json={"token_id": None}, headers=await auth(Scope.coordinator)
    )
    assert unlinked.json()["token_id"] is None


async def test_an_id_taken_twice_is_a_conflict(client: httpx.AsyncClient, auth: Auth) -> None:
    await add(client, auth, NOUR)

    again = await add(client, auth, NOUR)

    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")


async def test_one_token_links_to_one_handler_only(client: httpx.AsyncClient, auth: Auth) -> None:
    await add(client, auth, {**NOUR, "token_id": "tok12345"})

    other = await add(client, auth, {**NOUR, "handler_id": "sami", "token_id": "tok12345"})

    assert other.status_code == 409


@pytest.mark.parametrize(
    "body",
    [
        {**NOUR, "handler_id": "Nour Haddad"},  # a name, not a slug
        {**NOUR, "handler_id": "-nour"},
        {**NOUR, "languages": []},
        {**NOUR, "languages": ["arabic"]},
        {**NOUR, "languages": ["ar", "ar"]},
        {**NOUR, "expertise": ["hugs"]},
        {**NOUR, "max_open": 0},
        {**NOUR, "label": ""},
        {**NOUR, "colour": "blue"},
        {key: v for key, v in NOUR.items() if key != "languages"},
    ],
)
async def test_an_invalid_handler_is_refused_as_a_problem(
    client: httpx.AsyncClient, auth: Auth, body: dict[str, Any]
) -> None:
    response = await add(client, auth, body)

    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


@pytest.mark.parametrize("body", [{"label": None}, {"available": None}, {"max_open": 0}, {}])
async def test_an_invalid_update_is_refused(
    client: httpx.AsyncClient, auth: Auth, body: dict[str, Any]
) -> None:
    await add(client, auth, NOUR)

    response = await client.patch(
        "/v1/roster/nour", json=body, headers=await auth(Scope.coordinator)
    )

    assert response.status_code == (422 if body else 200)


async def test_updating_an_unknown_handler_is_a_404(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.patch(
        "/v1/roster/nobody", json={"available": False}, headers=await auth(Scope.coordinator)
    )

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("method", "path", "scope", "status"),
    [
        ("POST", "/v1/roster", Scope.handler, 403),
        ("PATCH", "/v1/roster/nour", Scope.handler, 403),
        ("GET", "/v1/roster", Scope.analyst, 403),
        ("GET", "/v1/roster/workload", Scope.handler, 403),
        ("GET", "/v1/roster", None, 401),
    ],
)
async def test_the_roster_is_kept_by_coordinators(
    client: httpx.AsyncClient,
    auth: Auth,
    method: str,
    path: str,
    scope: Scope | None,
    status: int,
) -> None:
    headers = await auth(scope) if scope else {}
    body = NOUR if method == "POST" else {"available": False} if method == "PATCH" else None

    response = await client.request(method, path, json=body, headers=headers)

    assert response.status_code == status


async def test_the_workload_counts_open_tickets_per_handler_and_priority(
    client: httpx.AsyncClient, auth: Auth, triaged: Triaged
) -> None:
    await add(client, auth, {**NOUR, "languages": ["en"]})
    await triaged("Someone hacked my email account and changed the password")  # P2
    await triaged("They posted my home address and said they will come to kill me")  # P1
    await triaged("Quelqu'un a piraté mon compte Facebook hier soir")  # French: nobody reads it

    response = await client.get("/v1/roster/workload", headers=await auth(Scope.coordinator))

    body = response.json()
    (nour,) = body["handlers"]
    assert nour["open"] == 2
    assert (nour["by_priority"]["P1"], nour["by_priority"]["P2"]) == (1, 1)
    assert body["unassigned"] == 1
    assert sum(body["unassigned_by_priority"].values()) == 1
