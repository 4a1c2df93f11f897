"""Two escalation services in one process, registered as each other's partners.

Each has its own var directory (database, keys, auth database). Their delivery
jobs are off: a test runs `delivery.deliver_due` itself. Partner calls go over
HTTP through `HelplineRouter`, which hands each request to the app named by its
host, so A's delivery POSTs reach B's real routes.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from services.escalation import records
from services.escalation.config import EscalationSettings
from services.escalation.main import create_app
from services.escalation.models import Referral, ReferralDelivery, ReferralTransition
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    ConsentChanged,
    ConsentChangedData,
    ConsentPurpose,
    Envelope,
    Flag,
    Priority,
    RequesterRole,
    decode,
)
from shared.db import transaction
from shared.testing.asgi import bearer, runtime_of, serve
from shared.testing.events import ticket_received, ticket_triaged
from shared.testing.fixtures import sqlite_settings


class HelplineRouter(httpx.AsyncBaseTransport):
    """Hands each request to the ASGI app its host names; an unknown host cannot connect."""

    def __init__(self, apps: Mapping[str, FastAPI]) -> None:
        self._transports = {host: httpx.ASGITransport(app=app) for host, app in apps.items()}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        transport = self._transports.get(request.url.host)
        if transport is None:
            raise httpx.ConnectError("no such helpline", request=request)
        return await transport.handle_async_request(request)


@dataclass
class Helpline:
    id: str
    app: FastAPI
    client: httpx.AsyncClient
    settings: EscalationSettings

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    @property
    def host(self) -> str:
        return f"{self.id}.test"

    async def headers(self, scope: Scope) -> dict[str, str]:
        return await bearer(self.app, scope)

    async def partner_token(self, partner_id: str) -> str:
        """A partner token this helpline issues to `partner_id`."""
        _, token = await self.runtime.token_store.create(
            name=f"partner {partner_id}", scope=Scope.partner, partner_id=partner_id
        )
        return token

    async def signing_key(self) -> str:
        response = await self.client.get(
            "/v1/referrals/signing-key", headers=await self.headers(Scope.coordinator)
        )
        assert response.status_code == 200, response.text
        return str(response.json()["public_key"])

    async def register(self, other: Helpline, token: str) -> dict[str, Any]:
        response = await self.client.post(
            "/v1/partners",
            json={
                "id": other.id,
                "name": f"Helpline {other.id}",
                "endpoint": f"https://{other.host}/v1/referrals",
                "public_key": await other.signing_key(),
                "services": ["account_compromise", "doxxing"],
                "languages": ["ar", "en"],
                "regions": ["LB", "145"],
                "token": token,
            },
            headers=await self.headers(Scope.coordinator),
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    async def published(self) -> list[Envelope]:
        async with self.runtime.sessions() as session:
            rows = (await session.execute(select(self.runtime.outbox.c.payload))).scalars().all()
        return [decode(raw) for raw in rows]

    async def counts(self) -> tuple[int, int, int, int]:
        """Referrals, their moves, deliveries and outbox rows: what a refusal must not add to."""
        async with self.runtime.sessions() as session:
            counted = []
            for table in (Referral, ReferralTransition, ReferralDelivery):
                counted.append(await session.scalar(select(func.count()).select_from(table)))
            counted.append(
                await session.scalar(select(func.count()).select_from(self.runtime.outbox))
            )
        a, b, c, d = (int(n or 0) for n in counted)
        return a, b, c, d

    def files(self) -> bytes:
        return b"".join(p.read_bytes() for p in (self.settings.var_dir / "db").glob("*.db*"))


async def seed_case(
    helpline: Helpline,
    *,
    partners: bool = True,
    priority: Priority = Priority.P2,
    flags: tuple[Flag, ...] = (),
) -> tuple[uuid.UUID, uuid.UUID]:
    """A received, triaged ticket with its requester's consent: (ticket, requester)."""
    received = ticket_received()
    assert received.ticket_id is not None
    async with transaction(helpline.runtime.writer_sessions) as session:
        await records.record_ticket_owner(session=session, event=received)
        await records.record_triage(
            session=session,
            event=ticket_triaged(
                ticket_id=received.ticket_id,
                priority=priority,
                flags=flags,
                requester_role=RequesterRole.journalist,
                country="LB",
                language="ar",
            ),
        )
    await consent(helpline, received.data.requester_id, partners=partners)
    return received.ticket_id, received.data.requester_id


async def consent(helpline: Helpline, requester_id: uuid.UUID, *, partners: bool) -> None:
    event = ConsentChanged(
        data=ConsentChangedData(
            requester_id=requester_id,
            consents={
                ConsentPurpose.share_with_platforms: False,
                ConsentPurpose.share_with_partners: partners,
                ConsentPurpose.anonymous_statistics: True,
            },
            wording_version="v1",
            source="web",
            changed_at=datetime.now(UTC),
        )
    )
    async with transaction(helpline.runtime.writer_sessions) as session:
        await records.record_consent(session=session, event=event)


def helpline_settings(var_dir: Path, helpline_id: str) -> EscalationSettings:
    return sqlite_settings(
        EscalationSettings,
        var_dir,
        helpline_id=helpline_id,
        helpline_name=f"Helpline {helpline_id}",
        reminder_check_seconds=0,
        delivery_check_seconds=0,
    )


@asynccontextmanager
async def two_helplines(tmp_path: Path) -> AsyncIterator[tuple[Helpline, Helpline]]:
    """Helplines A and B, started, each registered as the other's partner."""
    async with AsyncExitStack() as stack:
        made = []
        for name in ("helpline-a", "helpline-b"):
            settings = helpline_settings(tmp_path / name, name)
            app = create_app(settings)
            client = await stack.enter_async_context(serve(app))
            made.append(Helpline(name, app, client, settings))
        a, b = made
        router = HelplineRouter({a.host: a.app, b.host: b.app})
        for helpline in (a, b):
            old: httpx.AsyncClient = helpline.runtime.extras["partner_http"]
            await old.aclose()
            helpline.runtime.extras["partner_http"] = httpx.AsyncClient(transport=router)
        await a.register(b, await b.partner_token(a.id))
        await b.register(a, await a.partner_token(b.id))
        yield a, b
