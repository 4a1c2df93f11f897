"""A real PostgreSQL server for tests: Debian's package, installed on demand, on a free port."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from shared.testing.debian import PackageUnavailable, ensure_installed
from shared.testing.nats_server import free_port, wait_for_port

# Raised when Debian's postgresql package is missing and cannot be installed.
PostgresUnavailable = PackageUnavailable


def _bin_dir() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def ensure_postgres_installed() -> Path:
    """The directory of initdb/pg_ctl, installing Debian's postgresql package if needed."""
    return ensure_installed("postgresql", _bin_dir)


def _as_postgres(args: list[str]) -> list[str]:
    # The server refuses to run as root; Debian's package creates the postgres user.
    return ["runuser", "-u", "postgres", "--", *args] if os.geteuid() == 0 else args


@dataclass
class PostgresServer:
    data_dir: Path
    port: int
    bin_dir: Path

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://sanad@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> None:
        subprocess.run(  # noqa: S603
            _as_postgres(
                [
                    str(self.bin_dir / "createdb"),
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "sanad",
                    name,
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self) -> None:
        subprocess.run(  # noqa: S603
            _as_postgres(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"]
            ),
            check=False,
            capture_output=True,
        )


def start_postgres() -> PostgresServer:
    """initdb in a fresh directory and start the server on 127.0.0.1 at a free port."""
    bin_dir = ensure_postgres_installed()
    base = Path(tempfile.mkdtemp(prefix="sanad-pg-"))
    data = base / "data"
    if os.geteuid() == 0:
        shutil.chown(base, "postgres", "postgres")
    subprocess.run(  # noqa: S603
        _as_postgres(
            [str(bin_dir / "initdb"), "-D", str(data), "-U", "sanad", "--auth=trust", "-E", "UTF8"]
        ),
        check=True,
        capture_output=True,
    )
    port = free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(  # noqa: S603
        _as_postgres(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-o",
                options,
                "-l",
                str(base / "server.log"),
                "-w",
                "start",
            ]
        ),
        check=True,
        capture_output=True,
    )
    wait_for_port(port)
    return PostgresServer(data_dir=data, port=port, bin_dir=bin_dir)
