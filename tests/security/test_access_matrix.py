"""Every endpoint of every service refuses a missing, wrong-scope, expired or revoked token.

The endpoints are read from the apps' routes, so a new endpoint without a
`require(...)` rule (and not deliberately public) fails here, and so does an
access table in docs/security.md that no longer matches the code.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from shared.auth import Scope, TokenStore
from shared.db import make_engine
from shared.testing.asgi import runtime_of, serve
from tests.security.matrix import (
    PUBLIC,
    SERVICES,
    Endpoint,
    all_endpoints,
    create,
    documented,
    endpoints,
    render,
)

_PARAM = re.compile(r"\{[^}]+\}")


def _url(endpoint: Endpoint) -> str:
    # Ids are uuids everywhere today; a path parameter of another type still reaches auth,
    # which runs before parameters are validated.
    return _PARAM.sub(str(uuid.uuid4()), endpoint.path)


async def _token(store: TokenStore, scope: Scope) -> str:
    partner = "partner-test" if scope is Scope.partner else None
    _, token = await store.create(name=f"matrix {scope}", scope=scope, partner_id=partner)
    return token


async def _expired_token(auth_url: str) -> str:
    """A handler token that expired long ago (made by a store whose clock is in the past)."""
    past = TokenStore(make_engine(auth_url), now=lambda: datetime(2001, 1, 1, tzinfo=UTC))
    try:
        _, token = await past.create(
            name="matrix expired", scope=Scope.coordinator, expires_in=timedelta(seconds=1)
        )
    finally:
        await past.close()
    return token


async def _call(client: httpx.AsyncClient, endpoint: Endpoint, token: str | None) -> int:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    response = await client.request(endpoint.method, _url(endpoint), headers=headers)
    return response.status_code


def test_every_route_is_public_on_purpose_or_has_a_scope_rule(tmp_path: Path) -> None:
    unruled = [
        e for e in all_endpoints(tmp_path) if (e.scopes is None) != ((e.method, e.path) in PUBLIC)
    ]

    assert not unruled, "routes without a scope rule (or public ones with one): " + ", ".join(
        f"{e.service} {e.method} {e.path}" for e in unruled
    )


def test_docs_security_md_lists_every_route_with_its_scopes(tmp_path: Path) -> None:
    expected = render(all_endpoints(tmp_path))

    assert documented() == expected, (
        "docs/security.md's access matrix differs from the routes; "
        "regenerate it with `python -m tests.security.matrix`"
    )


@pytest.mark.parametrize("service", SERVICES)
async def test_each_protected_endpoint_refuses_every_token_it_must(
    service: str, tmp_path: Path
) -> None:
    app: FastAPI = create(service, tmp_path)
    protected = [e for e in endpoints(service, app) if e.scopes is not None]
    failures: list[str] = []
    async with serve(app) as client:
        store = runtime_of(app).token_store
        tokens = {scope: await _token(store, scope) for scope in Scope}
        info, revoked = await store.create(name="matrix revoked", scope=Scope.coordinator)
        await store.revoke(info.id)
        expired = await _expired_token(runtime_of(app).settings.auth_database_url)
        for endpoint in protected:
            assert endpoint.scopes is not None
            allowed = endpoint.scopes | {Scope.admin}
            cases: list[tuple[str, str | None, set[int]]] = [
                ("no token", None, {401}),
                ("a malformed token", "not-a-token", {401}),
                ("an expired token", expired, {401}),
                ("a revoked token", revoked, {401}),
            ]
            cases += [
                (f"a {scope} token", tokens[scope], {403} if scope not in allowed else set())
                for scope in Scope
            ]
            for what, token, statuses in cases:
                status = await _call(client, endpoint, token)
                refused = status in (401, 403)
                if (statuses and status not in statuses) or (not statuses and refused):
                    want = "/".join(map(str, sorted(statuses))) or "not 401/403"
                    failures.append(
                        f"{endpoint.method} {endpoint.path} with {what}: {status}, want {want}"
                    )

    assert protected, f"{service} has no protected endpoint?"
    assert not failures, "\n".join(failures)


def test_a_route_without_a_rule_is_reported_as_such() -> None:
    app = FastAPI()

    @app.get("/v1/forgotten")
    async def forgotten() -> dict[str, str]:
        return {}

    (endpoint,) = [e for e in endpoints("intake", app) if e.path == "/v1/forgotten"]

    assert endpoint.scopes is None
    assert not endpoint.public
    assert "**NO RULE**" in render([endpoint])
