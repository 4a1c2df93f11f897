"""The NATS users of deploy/nats/accounts.conf: a service reaches only what it must.

Run against a real nats-server with the same configuration `make run` writes.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import StreamConfig
from nats.js.errors import APIError

from shared.contracts import STREAMS
from shared.messaging.connection import ensure_streams, inbox_prefix
from shared.testing.nats_config import NatsConfig, write_nats_config
from shared.testing.nats_server import NatsServer, start_nats_server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[NatsServer, NatsConfig]]:
    var = tmp_path_factory.mktemp("var")
    config = write_nats_config(var)
    running = start_nats_server(var / "nats", config=config.path, env=config.server_env)
    try:
        yield running, config
    finally:
        running.stop()


class Violations:
    """Permission errors the server reports to one connection."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    async def record(self, error: Exception) -> None:
        self.seen.append(str(error))

    async def wait(self) -> list[str]:
        for _ in range(50):  # bounded: the error arrives asynchronously
            if self.seen:
                break
            await asyncio.sleep(0.02)
        return self.seen


async def connect_as(
    server: tuple[NatsServer, NatsConfig], user: str, errors: Violations
) -> Client:
    running, config = server
    return await nats.connect(
        config.url_as(user, running.url),
        # The ops user keeps the default prefix; services have their own.
        inbox_prefix="_INBOX" if user == "ops" else inbox_prefix(user),
        error_cb=errors.record,
        connect_timeout=2,
        allow_reconnect=False,
    )


@pytest.fixture
async def ops(server: tuple[NatsServer, NatsConfig]) -> AsyncIterator[Client]:
    nc = await connect_as(server, "ops", Violations())
    await ensure_streams(nc.jetstream())
    yield nc
    await nc.close()


@pytest.mark.parametrize(("user", "other"), [("triage", "intake"), ("reporting", "escalation")])
async def test_a_service_cannot_listen_to_another_services_replies(
    server: tuple[NatsServer, NatsConfig], user: str, other: str
) -> None:
    errors = Violations()
    nc = await connect_as(server, user, errors)
    try:
        await nc.subscribe(f"{inbox_prefix(other)}.>")
        await nc.flush()
        assert any("permissions violation" in e.lower() for e in await errors.wait()), errors.seen
    finally:
        await nc.close()


async def test_a_service_cannot_subscribe_to_events_directly(
    server: tuple[NatsServer, NatsConfig],
) -> None:
    errors = Violations()
    nc = await connect_as(server, "reporting", errors)
    try:
        await nc.subscribe("sanad.intake.>")
        await nc.flush()
        assert any("permissions violation" in e.lower() for e in await errors.wait()), errors.seen
    finally:
        await nc.close()


async def test_a_service_gets_replies_on_its_own_inbox_and_keeps_its_own_stream(
    server: tuple[NatsServer, NatsConfig], ops: Client
) -> None:
    errors = Violations()
    nc = await connect_as(server, "triage", errors)
    js = nc.jetstream()
    try:
        info = await js.stream_info("SANAD_TRIAGE")
        assert info.config.name == "SANAD_TRIAGE"
        ack = await js.publish("sanad.triage.grants.checked", b"{}")
        assert ack.stream == "SANAD_TRIAGE"
        assert errors.seen == []
    finally:
        await nc.close()


async def test_a_service_cannot_change_another_producers_stream(
    server: tuple[NatsServer, NatsConfig], ops: Client
) -> None:
    errors = Violations()
    nc = await connect_as(server, "triage", errors)
    # The server drops a denied request: no answer comes, so do not wait long for one.
    js = nc.jetstream(timeout=0.5)
    spec = next(s for s in STREAMS if s.name == "SANAD_INTAKE")
    try:
        with pytest.raises((APIError, nats.errors.TimeoutError)):
            await js.update_stream(
                StreamConfig(name=spec.name, subjects=list(spec.subjects), max_msgs=1)
            )
        assert any("permissions violation" in e.lower() for e in await errors.wait())
        ops_info = await ops.jetstream().stream_info("SANAD_INTAKE")
        assert ops_info.config.max_msgs == spec.max_msgs
    finally:
        await nc.close()
