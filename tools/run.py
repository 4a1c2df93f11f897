"""`make run`: NATS (unless NATS_URL is given), an admin token, and the four services.

Ctrl-C or SIGTERM stops everything: the services first (they drain their
consumers and flush their outbox), then NATS.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

from shared.testing.nats_config import write_nats_config
from shared.testing.nats_server import NatsServer, start_nats_server, wait_for_port

SERVICES = (("intake", 8101), ("triage", 8102), ("escalation", 8103), ("reporting", 8104))
NATS_PORT = 4222
# Intake's SMTP server for the helpline's address (off unless a port is given).
SMTP_PORT = 2525


def _start_service(
    name: str, port: int, env: dict[str, str], logs: Path
) -> subprocess.Popen[bytes]:
    log = open(logs / f"{name}.log", "ab")  # noqa: SIM115 - the child keeps it
    args = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        f"services.{name}.main:create_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--timeout-graceful-shutdown",
        "10",
    ]
    return subprocess.Popen(args, env=env, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603


def _bootstrap_admin(env: dict[str, str]) -> None:
    sanad = Path(sys.executable).parent / "sanad"
    subprocess.run([str(sanad), "bootstrap-admin"], env=env, check=True)  # noqa: S603


_PR_SET_PDEATHSIG = 1


def _follow_parent() -> int:
    """`make` does not pass SIGTERM on to its children: ask Linux to pass it to us."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    return os.getppid()


def main(argv: list[str] | None = None) -> int:
    parent = _follow_parent()
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--var-dir", default=os.environ.get("SANAD_VAR_DIR", "var"))
    args = parser.parse_args(argv)
    var = Path(args.var_dir).resolve()
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "SANAD_VAR_DIR": str(var)}
    env.setdefault("INTAKE_SMTP_PORT", str(SMTP_PORT))

    nats: NatsServer | None = None
    if not os.environ.get("NATS_URL"):
        # Per-service users and JetStream encryption at rest; secrets under var/keys/.
        config = write_nats_config(var)
        nats = start_nats_server(
            var / "nats",
            port=NATS_PORT,
            config=config.path,
            log_file=logs / "nats.log",
            env=config.server_env,
        )
        env.update(config.service_env(), NATS_URL=nats.url)
        print(
            f"nats-server      {nats.url}  (config {config.path}, encrypted store {var / 'nats'})",
            flush=True,
        )
    _bootstrap_admin(env)

    procs = {name: _start_service(name, port, env, logs) for name, port in SERVICES}
    stopping = False

    def _stop(signum: int, _frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for name, port in SERVICES:
        wait_for_port(port, timeout=60)
        print(
            f"{name:<16} http://127.0.0.1:{port}  (docs /docs, logs {logs / name}.log)", flush=True
        )
    smtp_port = int(env["INTAKE_SMTP_PORT"] or 0)
    if smtp_port:
        wait_for_port(smtp_port, timeout=60)
        print(f"{'intake (email)':<16} smtp://127.0.0.1:{smtp_port}", flush=True)
    print("Sanad is running. Ctrl-C stops it.", flush=True)

    exit_code = 0
    while not stopping:
        if os.getppid() != parent:
            # Our parent (make, a terminal) is gone: stop rather than linger as an orphan.
            stopping = True
        for name, proc in procs.items():
            if proc.poll() is not None:
                print(f"{name} exited with {proc.returncode}; stopping.", file=sys.stderr)
                stopping, exit_code = True, 1
        time.sleep(0.2)

    for proc in procs.values():
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    for proc in procs.values():
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
    if nats is not None:
        nats.stop()
    print("Sanad stopped.", flush=True)
    return exit_code


if __name__ == "__main__":
    raise SystemExit(main())
