"""Fixtures every service's tests share, loaded by the root conftest as a plugin.

A service's conftest defines `settings` (see `sqlite_settings`) and `app`; these
give the running client, the runtime and tokens of any scope.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI

from shared.app import Runtime
from shared.auth import Scope
from shared.settings import BaseServiceSettings
from shared.testing.asgi import bearer, runtime_of, serve

Auth = Callable[[Scope], Awaitable[dict[str, str]]]
S = TypeVar("S", bound=BaseServiceSettings)


def sqlite_settings(cls: type[S], tmp_path: Path, **extra: Any) -> S:
    """Settings with the service's and the auth database in `tmp_path`, and no bus."""
    db = tmp_path / "db"
    return cls(
        var_dir=tmp_path,
        database_url=f"sqlite+aiosqlite:///{db / cls.service_name}.db",
        auth_database_url=f"sqlite+aiosqlite:///{db / 'auth.db'}",
        bus_enabled=False,
        **extra,
    )


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app started as its server would start it, and a client on it."""
    async with serve(app) as client:
        yield client


@pytest.fixture
def runtime(app: FastAPI, client: httpx.AsyncClient) -> Runtime:
    return runtime_of(app)


@pytest.fixture
def auth(app: FastAPI, client: httpx.AsyncClient) -> Auth:
    """Headers with a fresh token of the given scope."""
    return lambda scope: bearer(app, scope)
