"""A real browser for page tests: Debian's chromium (installed on demand) driven by Playwright.

Playwright's own browser downloads come from a CDN this project does not use; its
driver runs Debian's chromium binary instead.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright

from shared.testing.debian import ensure_installed


def ensure_chromium() -> Path:
    """Debian's chromium binary, installed first if missing."""
    return ensure_installed("chromium", lambda: _which("chromium"))


def _which(name: str) -> Path | None:
    found = shutil.which(name)
    return Path(found) if found else None


@contextmanager
def chromium() -> Iterator[Browser]:
    """A headless chromium for the duration of the block."""
    executable = ensure_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(executable),
            headless=True,
            # Root in a container: chromium's sandbox needs user namespaces it may not have.
            args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
        )
        try:
            yield browser
        finally:
            browser.close()
