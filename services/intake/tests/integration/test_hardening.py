"""Intake's public form behind the hardening middleware: headers, body limit, rate limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from shared.testing.asgi import serve


@pytest.fixture
def settings(tmp_path: Path) -> IntakeSettings:
    return IntakeSettings(
        var_dir=tmp_path,
        auth_database_url=f"sqlite+aiosqlite:///{tmp_path / 'db' / 'auth.db'}",
        bus_enabled=False,
        max_body_bytes=64 * 1024,
        rate_limit_public_burst=3,
        # The flood posts one body again and again: it is the rate that is tested here.
        duplicate_window_seconds=0,
    )


@pytest.fixture
async def client(settings: IntakeSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve(create_app(settings)) as client:
        yield client


async def test_the_form_answer_is_not_cached_framed_or_sniffed(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/tickets", json={"text": "my phone was taken at the border"})

    assert response.status_code == 202
    assert response.headers["cache-control"] == "no-store"
    assert (
        response.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    )
    assert response.headers["referrer-policy"] == "no-referrer"


async def test_an_oversized_submission_is_refused_as_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/tickets", json={"text": "x" * 70_000})

    assert response.status_code == 413
    assert response.json()["title"] == "Request too large"


async def test_a_flood_from_one_address_is_slowed_down(client: httpx.AsyncClient) -> None:
    statuses = [
        (await client.post("/v1/tickets", json={"text": "help"})).status_code for _ in range(5)
    ]

    assert statuses == [202, 202, 202, 429, 429]


async def test_the_limit_does_not_touch_health_probes(client: httpx.AsyncClient) -> None:
    statuses = {(await client.get("/healthz")).status_code for _ in range(30)}

    assert statuses == {200}


async def test_only_the_follow_up_page_takes_a_file_bigger_than_the_body_limit(
    client: httpx.AsyncClient,
) -> None:
    big = b"%PDF-1.7\n" + b"x" * (100 * 1024)  # over this module's 64 KB limit

    api = await client.post(
        "/v1/tickets", content=big, headers={"content-type": "application/json"}
    )
    upload = await client.post(
        "/en/follow-up",
        data={"ref": "SND-00000", "token": "not-a-token", "text": "evidence attached"},
        files={"file": ("threat.pdf", big, "application/pdf")},
    )

    assert api.status_code == 413
    # Through the limit to the page, which does not know the case.
    assert upload.status_code == 404
