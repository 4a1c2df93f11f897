"""The whole system as real processes: nats-server and the four services under uvicorn.

Used by the end-to-end tests and the benchmark; every port is free-picked on
127.0.0.1 and everything lives under one var directory.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.auth import Scope, TokenStore
from shared.testing.nats_config import NatsConfig, write_nats_config
from shared.testing.nats_server import NatsServer, free_port, start_nats_server

SERVICE_NAMES = ("intake", "triage", "escalation", "reporting")


@dataclass
class ServiceProcess:
    name: str
    port: int
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Stack:
    """A running Sanad; `stop()` ends it."""

    var_dir: Path
    nats: NatsServer
    services: dict[str, ServiceProcess]
    env: dict[str, str]
    nats_config: NatsConfig
    tokens: dict[Scope, str] = field(default_factory=dict)

    @property
    def nats_ops_url(self) -> str:
        """The NATS URL with the ops user's credentials (stream reports, dead letters)."""
        return self.nats_config.url_as("ops", self.nats.url)

    def url(self, name: str) -> str:
        return self.services[name].url

    def start_service(self, name: str, *, timeout: float = 60.0) -> None:
        service = self.services[name]
        log = open(self.var_dir / "logs" / f"{name}.log", "ab")  # noqa: SIM115 - child owns it
        args = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            f"services.{name}.main:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(service.port),
            "--no-access-log",
        ]
        service.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
            args, env=self.env, stdout=log, stderr=subprocess.STDOUT
        )
        wait_ready(service.url, timeout=timeout, process=service.process)

    def stop_service(self, name: str, *, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        process = self.services[name].process
        if process is None or process.poll() is not None:
            return
        process.send_signal(sig)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def stop(self) -> None:
        for name in self.services:
            self.stop_service(name)
        self.nats.stop()

    def auth(self, scope: Scope) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[scope]}"}


def wait_ready(
    url: str, *, timeout: float = 60.0, process: subprocess.Popen[bytes] | None = None
) -> None:
    """Poll `url`/readyz until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{url} exited with {process.returncode} before it was ready")
        try:
            if httpx.get(f"{url}/readyz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} not ready after {timeout}s")


async def _make_tokens(auth_url: str, scopes: tuple[Scope, ...]) -> dict[Scope, str]:
    store = TokenStore.from_url(auth_url)
    await store.start()
    try:
        tokens = {}
        for scope in scopes:
            _, token = await store.create(
                name=f"stack {scope.value}",
                scope=scope,
                partner_id="partner-test" if scope is Scope.partner else None,
            )
            tokens[scope] = token
        return tokens
    finally:
        await store.close()


def start_stack(
    var_dir: Path,
    *,
    services: tuple[str, ...] = SERVICE_NAMES,
    extra_env: dict[str, str] | None = None,
) -> Stack:
    """Start nats-server and `services`, each on a free port, sharing `var_dir`."""
    (var_dir / "logs").mkdir(parents=True, exist_ok=True)
    # The configuration `make run` uses: per-service users, encryption at rest.
    nats_config = write_nats_config(var_dir)
    nats = start_nats_server(
        var_dir / "nats",
        config=nats_config.path,
        log_file=var_dir / "logs" / "nats.log",
        env=nats_config.server_env,
    )
    env = {
        **os.environ,
        **nats_config.service_env(),
        "SANAD_VAR_DIR": str(var_dir),
        "NATS_URL": nats.url,
        # Spans reach var/traces/ within a fraction of a second, not the default 5 s.
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        **(extra_env or {}),
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    procs = {name: ServiceProcess(name, free_port()) for name in SERVICE_NAMES}
    for name, proc in procs.items():
        env[f"{name.upper()}_PORT"] = str(proc.port)
    auth_url = f"sqlite+aiosqlite:///{var_dir / 'db' / 'auth.db'}"
    stack = Stack(var_dir=var_dir, nats=nats, services=procs, env=env, nats_config=nats_config)
    try:
        stack.tokens = asyncio.run(_make_tokens(auth_url, tuple(Scope)))
        for name in services:
            stack.start_service(name)
    except BaseException:
        stack.stop()
        raise
    return stack
