"""One service app in-process: its lifespan running and an HTTP client on it, no network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from shared.app import Runtime
from shared.auth import Scope

BASE_URL = "http://testserver"


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start `app` as its server would (migrations, keys, tokens) and give a client on it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


def runtime_of(app: FastAPI) -> Runtime:
    """The runtime of a started app."""
    runtime: Runtime = app.state.runtime
    return runtime


async def bearer(app: FastAPI, scope: Scope) -> dict[str, str]:
    """Headers carrying a new token of `scope` from the app's own token store."""
    partner = "partner-test" if scope is Scope.partner else None
    _, token = await runtime_of(app).token_store.create(
        name=f"test {scope.value}", scope=scope, partner_id=partner
    )
    return {"Authorization": f"Bearer {token}"}
