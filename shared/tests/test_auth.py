"""Bearer tokens: storage, verification, caching and the FastAPI dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from shared.auth import (
    Principal,
    Scope,
    TokenRequestError,
    TokenStore,
    hash_token,
    require,
)
from shared.db import make_engine
from shared.errors import install_problem_handlers

# Module level: with postponed annotations FastAPI resolves aliases in module globals.
StaffDep = Annotated[Principal, Depends(require(Scope.handler, Scope.coordinator))]


class FakeClock:
    """Monotonic seconds and wall time that move only when told."""

    def __init__(self) -> None:
        self.seconds = 1000.0
        self.wall = datetime(2025, 1, 1, tzinfo=UTC)

    def monotonic(self) -> float:
        return self.seconds

    def now(self) -> datetime:
        return self.wall

    def advance(self, delta: timedelta) -> None:
        self.seconds += delta.total_seconds()
        self.wall += delta


def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"


def make_store(tmp_path: Path, clock: FakeClock) -> TokenStore:
    engine = make_engine(sqlite_url(tmp_path))
    return TokenStore(engine, cache_ttl=5.0, clock=clock.monotonic, now=clock.now)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path, clock: FakeClock) -> AsyncIterator[TokenStore]:
    store = make_store(tmp_path, clock)
    yield store
    await store.close()


@pytest.fixture
async def client(store: TokenStore) -> AsyncIterator[httpx.AsyncClient]:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_store = store

    @app.get("/cases")
    async def cases(principal: StaffDep) -> dict[str, str]:
        return {"token_id": principal.token_id, "scope": principal.scope}

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


def read_database_files(directory: Path) -> bytes:
    return b"".join(p.read_bytes() for p in directory.glob("auth.db*"))


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def new_token(
    store: TokenStore,
    scope: Scope = Scope.handler,
    *,
    expires_in: timedelta | None = None,
    partner_id: str | None = None,
) -> str:
    _, token = await store.create(
        name="Rana", scope=scope, expires_in=expires_in, partner_id=partner_id
    )
    return token


# --- HTTP ----------------------------------------------------------------------


async def test_no_token_is_401_problem(client: httpx.AsyncClient) -> None:
    response = await client.get("/cases")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["type"].endswith("/unauthorized")


@pytest.mark.parametrize(
    "header",
    ["Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "snd_abc", "Bearer snd_short", "Bearer x y"],
)
async def test_malformed_header_is_401(client: httpx.AsyncClient, header: str) -> None:
    response = await client.get("/cases", headers={"Authorization": header})
    assert response.status_code == 401


async def test_unknown_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/cases", headers=bearer("snd_" + "A" * 43))
    assert response.status_code == 401


async def test_revoked_token_is_401(client: httpx.AsyncClient, store: TokenStore) -> None:
    info, token = await store.create(name="Rana", scope=Scope.handler)
    assert (await client.get("/cases", headers=bearer(token))).status_code == 200
    assert await store.revoke(info.id)
    assert (await client.get("/cases", headers=bearer(token))).status_code == 401


async def test_expired_token_is_401(
    client: httpx.AsyncClient, store: TokenStore, clock: FakeClock
) -> None:
    token = await new_token(store, expires_in=timedelta(hours=1))
    assert (await client.get("/cases", headers=bearer(token))).status_code == 200
    clock.advance(timedelta(hours=1))
    assert (await client.get("/cases", headers=bearer(token))).status_code == 401


@pytest.mark.parametrize("scope", [Scope.ops, Scope.analyst, Scope.service])
async def test_wrong_scope_is_403(
    client: httpx.AsyncClient, store: TokenStore, scope: Scope
) -> None:
    response = await client.get("/cases", headers=bearer(await new_token(store, scope)))
    assert response.status_code == 403
    assert response.json()["type"].endswith("/forbidden")


@pytest.mark.parametrize("scope", [Scope.handler, Scope.coordinator, Scope.admin])
async def test_allowed_scope_and_admin_get_through(
    client: httpx.AsyncClient, store: TokenStore, scope: Scope
) -> None:
    response = await client.get("/cases", headers=bearer(await new_token(store, scope)))
    assert response.status_code == 200
    assert response.json()["scope"] == scope


async def test_error_never_echoes_the_token(client: httpx.AsyncClient, store: TokenStore) -> None:
    token = await new_token(store, Scope.ops)
    forbidden = await client.get("/cases", headers=bearer(token))
    unknown = await client.get("/cases", headers=bearer(token[:-1] + "x"))
    assert token[4:] not in forbidden.text
    assert token[4:-1] not in unknown.text


# --- store ---------------------------------------------------------------------


async def test_token_has_the_documented_shape(store: TokenStore) -> None:
    token = await new_token(store)
    assert token.startswith("snd_")
    assert len(token) == 47


async def test_database_holds_the_hash_not_the_token(tmp_path: Path, clock: FakeClock) -> None:
    store = make_store(tmp_path, clock)
    token = await new_token(store)
    await store.close()
    stored = read_database_files(tmp_path)
    assert token.encode() not in stored
    assert token[4:].encode() not in stored
    assert hash_token(token).encode() in stored


async def test_verify_gives_the_principal(store: TokenStore) -> None:
    info, token = await store.create(name="Beirut desk", scope=Scope.partner, partner_id="smex")
    assert await store.verify(token) == Principal(
        token_id=info.id, name="Beirut desk", scope=Scope.partner, partner_id="smex"
    )


async def test_revocation_elsewhere_takes_effect_after_the_cache_ttl(
    tmp_path: Path, store: TokenStore, clock: FakeClock
) -> None:
    info, token = await store.create(name="Rana", scope=Scope.handler)
    assert await store.verify(token) is not None
    cli = make_store(tmp_path, clock)
    try:
        assert await cli.revoke(info.id)
    finally:
        await cli.close()
    assert await store.verify(token) is not None
    clock.advance(timedelta(seconds=5))
    assert await store.verify(token) is None


async def test_revocation_in_the_same_process_is_immediate(store: TokenStore) -> None:
    info, token = await store.create(name="Rana", scope=Scope.handler)
    assert await store.verify(token) is not None
    assert await store.revoke(info.id)
    assert await store.verify(token) is None


async def test_revoke_is_idempotent_and_reports_unknown_ids(store: TokenStore) -> None:
    info, _ = await store.create(name="Rana", scope=Scope.handler)
    assert await store.revoke(info.id)
    assert await store.revoke(info.id)
    assert not await store.revoke("nosuchid")


async def test_list_shows_tokens_without_secrets(store: TokenStore, clock: FakeClock) -> None:
    first, _ = await store.create(name="Rana", scope=Scope.handler)
    clock.advance(timedelta(seconds=1))
    second, _ = await store.create(name="Ops", scope=Scope.ops, expires_in=timedelta(days=30))
    await store.revoke(first.id)
    listed = await store.list()
    assert [t.id for t in listed] == [first.id, second.id]
    assert listed[0].revoked_at == clock.now()
    assert listed[1].expires_at == clock.now() + timedelta(days=30)
    assert listed[1].created_at.tzinfo is not None


@pytest.mark.parametrize(
    ("scope", "expires_in", "partner_id"),
    [
        (Scope.partner, None, None),
        (Scope.handler, None, "smex"),
        (Scope.handler, timedelta(0), None),
    ],
    ids=["partner-without-id", "id-without-partner", "zero-lifetime"],
)
async def test_invalid_requests_are_refused(
    store: TokenStore, scope: Scope, expires_in: timedelta | None, partner_id: str | None
) -> None:
    with pytest.raises(TokenRequestError):
        await new_token(store, scope, expires_in=expires_in, partner_id=partner_id)


async def test_blank_name_is_refused(store: TokenStore) -> None:
    with pytest.raises(TokenRequestError):
        await store.create(name="  ", scope=Scope.handler)
