"""A real PostgreSQL server (installed on demand) for the tests marked `postgres`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shared.testing.postgres import PostgresServer, PostgresUnavailable, start_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    try:
        server = start_postgres()
    except PostgresUnavailable as exc:
        pytest.skip(f"PostgreSQL unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()
