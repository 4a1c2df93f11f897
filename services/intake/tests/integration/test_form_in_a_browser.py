"""The public form in a real browser (chromium), as a person on a phone would use it.

What an HTML assertion cannot show: that the Arabic page lays out right to left,
that it works with JavaScript turned off, that it fits a small screen, that the
browser loads nothing from anywhere else and enforces the Content-Security-Policy,
and that the whole page stays small.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, Response, ViewportSize

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from shared.testing.asgi import serve_http
from shared.testing.browser import chromium

PHONE: ViewportSize = {"width": 360, "height": 740}
PAGE_BUDGET = 50 * 1024
# The repository's var/ (git-ignored): a reviewer looks at the Arabic form as the browser drew it.
SCREENSHOTS = Path(__file__).resolve().parents[4] / "var" / "screenshots"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def intake_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    var = tmp_path_factory.mktemp("var")
    settings = IntakeSettings(
        var_dir=var,
        database_url=f"sqlite+aiosqlite:///{var / 'intake.db'}",
        auth_database_url=f"sqlite+aiosqlite:///{var / 'auth.db'}",
        bus_enabled=False,
        rate_limit_public_per_minute=0,
    )
    with serve_http(create_app(settings)) as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as running:
        yield running


class Traffic:
    """Every request a page made, and the bytes its responses carried."""

    def __init__(self, page: Page) -> None:
        self.urls: list[str] = []
        self.bytes = 0
        page.on("request", self._request)
        page.on("response", self._response)

    def _request(self, request: Request) -> None:
        self.urls.append(request.url)

    def _response(self, response: Response) -> None:
        self.bytes += len(response.body())


@pytest.fixture
def phone(browser: Browser) -> Iterator[Page]:
    """A small screen with JavaScript off: the form must not need it."""
    context = browser.new_context(viewport=PHONE, java_script_enabled=False, locale="ar")
    try:
        yield context.new_page()
    finally:
        context.close()


def test_the_arabic_form_works_without_javascript_and_gives_a_follow_up_link(
    phone: Page, intake_url: str
) -> None:
    traffic = Traffic(phone)
    phone.goto(f"{intake_url}/ar")
    assert phone.locator("html").get_attribute("dir") == "rtl"
    assert phone.locator("html").get_attribute("lang") == "ar"
    assert all(url.startswith(intake_url) for url in traffic.urls), traffic.urls
    assert traffic.bytes < PAGE_BUDGET

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOTS / "intake-form-ar.png"
    phone.screenshot(path=str(shot), full_page=True)
    image = shot.read_bytes()
    assert image.startswith(PNG_SIGNATURE)
    # A blank or failed capture of a 360-px-wide page is a few hundred bytes; the form is not.
    assert len(image) > 10_000
    width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    assert width == PHONE["width"]
    assert height > PHONE["height"]

    phone.fill("#what_happened", "حسابي على فيسبوك اخترق وغيروا كلمة السر")
    phone.check("input[name=consent][value=anonymous_statistics]")
    phone.click("button[type=submit]")

    body = phone.locator("body").inner_text()
    assert re.search(r"SND-[A-Z0-9]{5}", body)
    link = phone.locator("a[href*='follow-up']").first.get_attribute("href")
    assert link is not None

    phone.goto(link if link.startswith("http") else f"{intake_url}{link}")
    phone.fill("#text", "وصلتني رسالة تهديد جديدة")
    phone.click("button[type=submit]")
    assert phone.locator("[role=status]").count() == 1


@pytest.mark.parametrize(("lang", "direction"), [("ar", "rtl"), ("fr", "ltr"), ("en", "ltr")])
def test_each_language_lays_out_in_its_direction_and_fits_a_phone(
    browser: Browser, intake_url: str, lang: str, direction: str
) -> None:
    context = browser.new_context(viewport=PHONE)
    try:
        page = context.new_page()
        page.goto(f"{intake_url}/{lang}")
        computed = page.evaluate("getComputedStyle(document.querySelector('form')).direction")
        assert computed == direction
        # Nothing wider than the screen: no sideways scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    finally:
        context.close()


def test_the_browser_enforces_the_policy_against_outside_content(
    browser: Browser, intake_url: str
) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{intake_url}/en")
        # As an injected tag would try: the page's CSP must make the browser refuse both.
        blocked = page.evaluate(
            """() => new Promise(resolve => {
                const seen = [];
                document.addEventListener('securitypolicyviolation', e => {
                    seen.push(e.effectiveDirective);
                    if (seen.length === 2) resolve(seen.sort());
                });
                const s = document.createElement('script');
                s.src = 'https://tracker.example.org/t.js';
                document.body.appendChild(s);
                const i = document.createElement('img');
                i.src = 'https://tracker.example.org/pixel.gif';
                document.body.appendChild(i);
                setTimeout(() => resolve(seen.sort()), 2000);
            })"""
        )
        assert blocked == ["img-src", "script-src-elem"]
    finally:
        context.close()


def test_the_page_assets_are_all_served_here(browser: Browser, intake_url: str) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        traffic = Traffic(page)
        page.goto(f"{intake_url}/fr")
        page.wait_for_load_state("networkidle")
        assert traffic.urls
        assert all(url.startswith(intake_url) for url in traffic.urls), traffic.urls
        fonts = page.evaluate("[...document.fonts].map(f => f.family)")
        assert fonts == [], "no web fonts: the phone's own fonts are used"
    finally:
        context.close()
