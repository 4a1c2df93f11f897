"""What every service answers: health, readiness, metrics, its schema, problem details."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from services.escalation.config import EscalationSettings
from services.escalation.main import create_app as create_escalation
from services.intake.config import IntakeSettings
from services.intake.main import create_app as create_intake
from services.reporting.config import ReportingSettings
from services.reporting.main import create_app as create_reporting
from services.triage.config import TriageSettings
from services.triage.main import create_app as create_triage
from shared.auth import Scope
from shared.settings import BaseServiceSettings
from shared.testing.asgi import bearer, serve

SERVICES: dict[str, tuple[type[BaseServiceSettings], Callable[..., FastAPI]]] = {
    "intake": (IntakeSettings, create_intake),
    "triage": (TriageSettings, create_triage),
    "escalation": (EscalationSettings, create_escalation),
    "reporting": (ReportingSettings, create_reporting),
}
OPS_ROUTES = {"/healthz", "/readyz", "/metrics"}


@pytest.fixture(params=sorted(SERVICES))
def app(request: pytest.FixtureRequest, tmp_path: Path) -> FastAPI:
    settings_cls, create_app = SERVICES[request.param]
    settings = settings_cls(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'service.db'}",
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}",
        bus_enabled=False,
    )
    return create_app(settings)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(app) as client:
        yield client


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


async def test_metrics_are_not_for_handlers(client: httpx.AsyncClient, app: FastAPI) -> None:
    response = await client.get("/metrics", headers=await bearer(app, Scope.handler))

    assert response.status_code == 403


@pytest.mark.parametrize("scope", [Scope.ops, Scope.service])
async def test_ops_read_request_metrics_by_route(
    client: httpx.AsyncClient, app: FastAPI, scope: Scope
) -> None:
    await client.get("/healthz")
    await client.get("/no/such/path/Mariam")

    response = await client.get("/metrics", headers=await bearer(app, scope))

    assert response.status_code == 200
    assert "sanad_http_requests_total{" in response.text
    assert 'route="/healthz"' in response.text
    assert 'route="unmatched"' in response.text
    assert "Mariam" not in response.text


async def test_the_openapi_schema_is_served_with_the_ops_routes(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/openapi.json")

    assert response.status_code == 200
    assert set(response.json()["paths"]) >= OPS_ROUTES


async def test_an_unknown_path_is_a_404_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/nothing-here")

    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 404


async def test_a_wrong_method_is_a_405_problem(client: httpx.AsyncClient) -> None:
    response = await client.delete("/healthz")

    assert response.status_code == 405
    assert response.headers["content-type"] == "application/problem+json"
