"""At least once, exactly one effect: a consumer killed mid-stream loses and doubles nothing."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from shared.testing.stack import Stack, start_stack
from tests.e2e.conftest import eventually, post_ticket, summary

TICKETS = 200


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Unacknowledged messages come back after 3 s instead of the default 30 s."""
    running = start_stack(
        tmp_path_factory.mktemp("var"),
        extra_env={
            "REPORTING_ACK_WAIT_SECONDS": "3",
            # Hundreds of tickets from one address: the form's rate limit is not under test.
            "INTAKE_RATE_LIMIT_PUBLIC_PER_MINUTE": "0",
        },
    )
    try:
        yield running
    finally:
        running.stop()


def test_reporting_killed_part_way_through_200_tickets_counts_each_once(stack: Stack) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        first = list(pool.map(lambda _: post_ticket(stack), range(TICKETS // 2)))
        eventually(lambda: summary(stack)["tickets_received"] not in (0, "<5"))
        # Killed, not asked: whatever it had applied but not acknowledged comes back.
        stack.stop_service("reporting", sig=signal.SIGKILL)
        second = list(pool.map(lambda _: post_ticket(stack), range(TICKETS - len(first))))
    stack.start_service("reporting")

    assert len({t["id"] for t in first + second}) == TICKETS
    done = eventually(
        lambda: (
            (s := summary(stack))["tickets_triaged"] == TICKETS
            and s["tickets_received"] == TICKETS
            and s
        ),
        timeout=60,
    )
    assert done["by_priority"] == {"P2": TICKETS}
