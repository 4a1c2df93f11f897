"""Schemathesis against each service's own OpenAPI: no 5xx, no answer that breaks its schema.

Each service runs under uvicorn on a free port (no NATS), with an admin token so
that generated requests reach the handlers, and rate limits off so that the
fuzzer is not only measuring 429s. Examples are bounded to keep CI fast.
"""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import APIOperation, Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err, Ok
from schemathesis.specs.openapi.checks import response_schema_conformance

from shared.auth import Scope, TokenStore
from shared.testing.asgi import serve_http
from tests.security.matrix import SERVICES, settings_for

MAX_EXAMPLES = 25
CHECKS = [not_a_server_error, response_schema_conformance]


def _admin_token(auth_url: str) -> str:
    async def make() -> str:
        store = TokenStore.from_url(auth_url)
        try:
            _, token = await store.create(name="fuzz", scope=Scope.admin)
            return token
        finally:
            await store.close()

    return asyncio.run(make())


@contextmanager
def serving(service: str, var_dir: Path) -> Iterator[tuple[str, str]]:
    """`service` under uvicorn in a thread: its URL and an admin token."""
    config = settings_for(service, var_dir).model_copy(
        update={"rate_limit_public_per_minute": 0.0, "rate_limit_token_per_minute": 0.0}
    )
    app = importlib.import_module(f"services.{service}.main").create_app(config)
    with serve_http(app) as url:
        yield url, _admin_token(config.auth_database_url)


def _ok(
    result: Ok[APIOperation[Any, Any, Any, Any]] | Err[Any],
) -> APIOperation[Any, Any, Any, Any]:
    if isinstance(result, Err):
        raise AssertionError(f"the service's OpenAPI does not load: {result.err()!r}")
    return result.ok()


@pytest.mark.parametrize("service", SERVICES)
def test_no_generated_request_gets_a_5xx_or_an_answer_off_its_schema(
    service: str, tmp_path: Path
) -> None:
    with serving(service, tmp_path) as (url, token):
        schema = schemathesis.openapi.from_url(f"{url}/openapi.json")
        headers = {"Authorization": f"Bearer {token}"}
        operations = [_ok(result) for result in schema.get_all_operations()]
        assert operations

        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=MAX_EXAMPLES,
                deadline=None,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: Case[Any]) -> None:
                case.call_and_validate(headers=headers, checks=CHECKS)

            fuzz()
