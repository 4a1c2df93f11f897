"""Fixtures for end-to-end tests: the whole system as real processes."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from shared.auth import Scope
from shared.testing.stack import Stack, start_stack

T = TypeVar("T")

E2E_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if E2E_DIR in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A fresh system per test module, so counts in one module are its own."""
    running = start_stack(tmp_path_factory.mktemp("var"))
    try:
        yield running
    finally:
        running.stop()


def eventually(check: Callable[[], T | None], *, timeout: float = 20.0, every: float = 0.1) -> T:
    """Poll `check` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: T | None = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met within {timeout}s (last: {last!r})")


def post_ticket(stack: Stack, **fields: Any) -> dict[str, Any]:
    body = {"text": "Someone hacked my Facebook account and changed my password", **fields}
    response = httpx.post(f"{stack.url('intake')}/v1/tickets", json=body, timeout=10)
    assert response.status_code == 202, response.text
    result: dict[str, Any] = response.json()
    return result


def triage_of(stack: Stack, ticket_id: str) -> dict[str, Any] | None:
    response = httpx.get(
        f"{stack.url('triage')}/v1/triage/{ticket_id}",
        headers=stack.auth(Scope.handler),
        timeout=10,
    )
    if response.status_code != 200:
        return None
    result: dict[str, Any] = response.json()
    return result


def summary(stack: Stack) -> dict[str, Any]:
    response = httpx.get(
        f"{stack.url('reporting')}/v1/metrics/summary",
        headers=stack.auth(Scope.analyst),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def read_tree(root: Path) -> dict[Path, bytes]:
    """Every file under `root`, as bytes (databases, NATS store, traces, logs)."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
