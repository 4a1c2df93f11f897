"""One service app in-process: with an HTTP client on it and no network, or under uvicorn."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import httpx
import uvicorn
from fastapi import FastAPI

from shared.app import Runtime
from shared.auth import Scope
from shared.testing.nats_server import free_port
from shared.testing.stack import wait_ready

BASE_URL = "http://testserver"


@asynccontextmanager
async def serve(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Start `app` as its server would (migrations, keys, tokens) and give a client on it."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=BASE_URL) as client:
            yield client


@contextmanager
def serve_http(app: FastAPI, *, ready_timeout: float = 30.0) -> Iterator[str]:
    """`app` under uvicorn in a thread on a free 127.0.0.1 port: its base URL.

    For clients that need a real socket: a browser, a fuzzer, another service.
    """
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, timeout=ready_timeout)
        yield url
    finally:
        server.should_exit = True
        thread.join(timeout=10)


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
