"""Security headers, the body limit and rate limits (shared.hardening) on a small app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from fastapi.responses import HTMLResponse

from shared.auth import Scope, TokenStore
from shared.db import make_engine
from shared.errors import install_problem_handlers
from shared.hardening import API_CSP, DOCS_CSP, HardeningMiddleware, Limits, RateLimiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


LIMITS = Limits(
    max_body_bytes=1000,
    public_per_minute=60.0,
    public_burst=3,
    token_per_minute=60.0,
    token_burst=5,
    max_tracked=100,
    public_paths=frozenset({("POST", "/form")}),
    upload_paths=frozenset({("POST", "/upload")}),
    max_upload_bytes=5000,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[TokenStore]:
    store = TokenStore(make_engine(f"sqlite+aiosqlite:///{tmp_path / 'auth.db'}"))
    yield store
    await store.close()


@pytest.fixture
def app(clock: FakeClock, store: TokenStore) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.token_store = store
    app.state.calls = 0

    @app.post("/form", status_code=202)
    async def form(request: Request) -> dict[str, int]:
        request.app.state.calls += 1
        return {"bytes": len(await request.body())}

    @app.post("/upload", status_code=202)
    async def upload(request: Request) -> dict[str, int]:
        return {"bytes": len(await request.body())}

    @app.get("/api")
    async def api() -> dict[str, str]:
        return {"ok": "yes"}

    @app.get("/page", response_class=HTMLResponse)
    async def page() -> str:
        return "<p>hello</p>"

    @app.get("/cached")
    async def cached() -> Response:
        return Response(
            "{}", media_type="application/json", headers={"Cache-Control": "max-age=60"}
        )

    app.add_middleware(HardeningMiddleware, limits=LIMITS, clock=clock)
    return app


def client_for(app: FastAPI, address: str = "203.0.113.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 50000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


# --- headers ---------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api", "/nowhere"])
async def test_json_answers_and_errors_carry_the_security_headers(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.headers["content-security-policy"] == API_CSP.decode()
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_an_html_page_gets_its_own_policy_that_still_forbids_framing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/page")

    assert response.headers["content-security-policy"] == DOCS_CSP.decode()
    assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_a_cache_policy_the_app_chose_is_kept(client: httpx.AsyncClient) -> None:
    response = await client.get("/cached")

    assert response.headers.get_list("cache-control") == ["max-age=60"]


# --- body limit --------------------------------------------------------------


async def test_a_declared_body_over_the_limit_is_refused_before_the_app_runs(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    response = await client.post("/form", content=b"x" * 1001)

    assert response.status_code == 413
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/too-large")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert app.state.calls == 0


async def test_a_body_at_the_limit_is_taken(client: httpx.AsyncClient) -> None:
    response = await client.post("/form", content=b"x" * 1000)

    assert response.status_code == 202
    assert response.json() == {"bytes": 1000}


async def test_a_chunked_body_is_cut_off_at_the_limit(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"x" * 300

    response = await client.post("/form", content=chunks())

    assert response.status_code == 413
    assert response.json()["status"] == 413


# --- rate limits -------------------------------------------------------------


async def test_the_public_form_is_limited_per_address_with_retry_after(
    app: FastAPI, client: httpx.AsyncClient, clock: FakeClock
) -> None:
    statuses = [(await client.post("/form", content=b"{}")).status_code for _ in range(4)]

    assert statuses == [202, 202, 202, 429]
    refused = await client.post("/form", content=b"{}")
    assert refused.headers["retry-after"] == "1"
    assert refused.json()["type"].endswith("/rate-limited")
    assert app.state.calls == 3
    clock.now += 1.0
    assert (await client.post("/form", content=b"{}")).status_code == 202


async def test_another_address_has_its_own_bucket(app: FastAPI, client: httpx.AsyncClient) -> None:
    for _ in range(3):
        await client.post("/form", content=b"{}")

    async with client_for(app, "198.51.100.9") as other:
        assert (await other.post("/form", content=b"{}")).status_code == 202


async def test_a_valid_token_lifts_a_gateway_past_its_address_limit(
    client: httpx.AsyncClient, store: TokenStore
) -> None:
    _, token = await store.create(name="email gateway", scope=Scope.service)
    headers = {"Authorization": f"Bearer {token}"}
    forged = {"Authorization": "Bearer snd_" + "A" * 43}
    for _ in range(3):
        await client.post("/form", content=b"{}")

    assert (await client.post("/form", content=b"{}", headers=forged)).status_code == 429
    statuses = [
        (await client.post("/form", content=b"{}", headers=headers)).status_code for _ in range(6)
    ]
    assert statuses == [202] * 5 + [429]


async def test_requests_with_a_token_are_limited_per_token(client: httpx.AsyncClient) -> None:
    headers = {"Authorization": "Bearer snd_whatever"}
    statuses = [(await client.get("/api", headers=headers)).status_code for _ in range(6)]

    assert statuses == [200] * 5 + [429]
    assert (await client.get("/api")).status_code == 200


def test_the_buckets_are_bounded(clock: FakeClock) -> None:
    limiter = RateLimiter(per_minute=60, burst=1, max_keys=10, clock=clock)
    for n in range(1000):
        limiter.take(f"10.0.{n // 256}.{n % 256}")

    assert len(limiter) == 10


def test_a_rate_of_zero_turns_a_limit_off(clock: FakeClock) -> None:
    assert not RateLimiter(per_minute=0, burst=1, max_keys=10, clock=clock).enabled


# --- uploads ---------------------------------------------------------------------


@pytest.mark.parametrize("chunked", [False, True], ids=["declared", "streamed"])
async def test_only_an_upload_path_takes_a_bigger_body(
    client: httpx.AsyncClient, chunked: bool
) -> None:
    def body(size: int) -> bytes | AsyncIterator[bytes]:
        data = b"x" * size

        async def chunks() -> AsyncIterator[bytes]:
            # No Content-Length: the middleware counts the body as it streams in.
            yield data[:1000]
            yield data[1000:]

        return chunks() if chunked else data

    upload = await client.post("/upload", content=body(4000))
    too_big = await client.post("/upload", content=body(6000))
    elsewhere = await client.post("/form", content=body(4000))

    assert (upload.status_code, upload.json()) == (202, {"bytes": 4000})
    assert too_big.status_code == elsewhere.status_code == 413
