"""The baseline: a bare FastAPI app that validates a ticket body and answers 202.

No database, no tracing, no middleware, no auth: what FastAPI + uvicorn cost for
the same request on this machine. Served exactly as the services are (uvicorn,
one worker, `--no-access-log`, uvloop/httptools when installed), so intake's
throughput can be reported as a ratio of it.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import FastAPI, status

from services.intake.models import TicketCreate
from shared.testing.nats_server import free_port
from shared.testing.stack import wait_ready


def create_app() -> FastAPI:
    """The bare app (a uvicorn `--factory`)."""
    app = FastAPI(title="Sanad bench: bare endpoint", openapi_url=None, docs_url=None)

    @app.post("/v1/tickets", status_code=status.HTTP_202_ACCEPTED)
    async def create_ticket(body: TicketCreate) -> dict[str, Any]:
        # About the size of intake's answer (id, reference, received_at, token).
        return {
            "id": str(uuid.uuid4()),
            "reference": "BENCH-0000",
            "received_at": datetime.now(UTC).isoformat(),
            "channel": body.channel.value,
        }

    @app.get("/readyz")
    async def readyz() -> dict[str, str]:
        return {"status": "ready"}

    return app


@dataclass
class BareServer:
    """The bare app under uvicorn in a child process; `stop()` ends it."""

    port: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_bare(log_file: Path, *, timeout: float = 30.0) -> BareServer:
    """Start the bare app on a free port with the services' uvicorn flags; wait until ready."""
    port = free_port()
    args = [
        sys.executable, "-m", "uvicorn", "--factory", "bench.bare:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
    ]  # fmt: skip
    log = open(log_file, "ab")  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    log.close()
    server = BareServer(port=port, process=process)
    try:
        wait_ready(server.url, timeout=timeout, process=process)
    except BaseException:
        server.stop()
        raise
    return server
