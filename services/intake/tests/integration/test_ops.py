"""What every service answers: health, readiness, metrics, its schema, problem details."""

from __future__ import annotations

import httpx
import pytest

from services.intake.tests.conftest import Auth
from shared.auth import Scope

OPS_ROUTES = {"/healthz", "/readyz", "/metrics"}
SERVICE_ROUTES: set[str] = {"/v1/tickets", "/v1/tickets/{ticket_id}"}


async def test_healthz_answers_without_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")

    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_is_ready_when_the_database_answers(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "nats": "ok"}}


async def test_metrics_need_a_token(client: httpx.AsyncClient) -> None:
    response = await client.get("/metrics")

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"


async def test_metrics_are_not_for_handlers(client: httpx.AsyncClient, auth: Auth) -> None:
    response = await client.get("/metrics", headers=await auth(Scope.handler))

    assert response.status_code == 403


@pytest.mark.parametrize("scope", [Scope.ops, Scope.service])
async def test_ops_read_request_metrics_by_route(
    client: httpx.AsyncClient, auth: Auth, scope: Scope
) -> None:
    await client.get("/healthz")
    await client.get("/no/such/path/Mariam")

    response = await client.get("/metrics", headers=await auth(scope))

    assert response.status_code == 200
    assert "sanad_http_requests_total{" in response.text
    assert 'route="/healthz"' in response.text
    assert 'route="unmatched"' in response.text
    assert "Mariam" not in response.text


async def test_the_openapi_schema_lists_every_route(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert set(response.json()["paths"]) == OPS_ROUTES | SERVICE_ROUTES


async def test_an_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_a_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
