"""Every service runs on PostgreSQL by URL: migrations, the journey's writes, the relay."""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import nats
import pytest
from fastapi import FastAPI
from nats.aio.msg import Msg

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
from shared.testing.nats_server import start_nats_server
from shared.testing.postgres import PostgresServer

_names = itertools.count()

FACTORIES: dict[str, tuple[type[BaseServiceSettings], Callable[..., FastAPI]]] = {
    "intake": (IntakeSettings, create_intake),
    "triage": (TriageSettings, create_triage),
    "escalation": (EscalationSettings, create_escalation),
    "reporting": (ReportingSettings, create_reporting),
}


def _settings(postgres: PostgresServer, service: str, var_dir: Path) -> BaseServiceSettings:
    database = f"{service}_{next(_names)}_{uuid.uuid4().hex[:6]}"
    postgres.create_database(database)
    settings_cls = FACTORIES[service][0]
    return settings_cls(
        var_dir=var_dir,
        database_url=postgres.url(database),
        bus_enabled=False,
    )


@pytest.mark.parametrize("service", sorted(FACTORIES))
async def test_each_service_migrates_and_is_ready_on_postgresql(
    postgres: PostgresServer, tmp_path: Path, service: str
) -> None:
    settings = _settings(postgres, service, tmp_path)
    app = FACTORIES[service][1](settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            response = await client.get("/readyz")
    assert response.status_code == 200, response.text


async def test_a_ticket_is_stored_encrypted_and_published_from_a_postgresql_outbox(
    postgres: PostgresServer, tmp_path: Path
) -> None:
    server = start_nats_server(tmp_path / "nats")
    try:
        settings = _settings(postgres, "intake", tmp_path)
        settings = settings.model_copy(update={"bus_enabled": True, "nats_url": server.url})
        assert isinstance(settings, IntakeSettings)
        app = create_intake(settings)
        nc = await nats.connect(server.url)
        received: asyncio.Queue[Msg] = asyncio.Queue()
        await nc.subscribe("sanad.intake.>", cb=received.put)
        async with app.router.lifespan_context(app):
            _, token = await app.state.runtime.token_store.create(
                name="pg test", scope=Scope.handler
            )
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                posted = await client.post(
                    "/v1/tickets",
                    json={"text": "My phone was taken at the border", "requester_name": "Lina"},
                )
                assert posted.status_code == 202, posted.text
                ticket = posted.json()
                read = await client.get(
                    f"/v1/tickets/{ticket['id']}", headers={"Authorization": f"Bearer {token}"}
                )
            message = await asyncio.wait_for(received.get(), timeout=10)
        await nc.close()
    finally:
        server.stop()

    assert read.status_code == 200
    assert read.json()["requester"]["name"] == "Lina"
    assert message.subject == "sanad.intake.ticket.received"
    assert message.headers is not None
    assert message.headers["Nats-Msg-Id"] in message.data.decode()
    assert ticket["id"] in message.data.decode()
    assert b"Lina" not in message.data
    assert b"border" not in message.data
