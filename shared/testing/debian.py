"""Debian packages a test needs (a database server, a browser), installed on demand."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PackageUnavailable(RuntimeError):
    """The package is not installed and cannot be installed here."""


def ensure_installed(package: str, find: Callable[[], T | None]) -> T:
    """What `find` finds, installing Debian's `package` first if it finds nothing."""
    found = find()
    if found is not None:
        return found
    apt = shutil.which("apt-get")
    if os.geteuid() != 0 or apt is None:
        raise PackageUnavailable(f"{package} is not installed and this user cannot install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Wait for another apt (a parallel test run) rather than fail on its lock.
    lock = ["-o", "DPkg::Lock::Timeout=600"]
    subprocess.run([apt, *lock, "update", "-qq"], check=True, env=env)  # noqa: S603
    subprocess.run(  # noqa: S603
        [apt, *lock, "install", "-y", "-qq", "--no-install-recommends", package],
        check=True,
        env=env,
    )
    found = find()
    if found is None:
        raise PackageUnavailable(f"{package} installed but not found")
    return found
