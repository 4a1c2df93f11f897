"""The public web form and follow-up page: small, right-to-left in Arabic, nothing third-party."""

from __future__ import annotations

import re
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from services.intake.models import Requester, Ticket
from services.intake.tests.conftest import Auth
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import ConsentChanged, ConsentPurpose, TicketMessageAdded, decode
from shared.testing.asgi import serve

TEXT = "اخترقوا حسابي على فيسبوك وينشرون باسمي"
FORM: dict[str, Any] = {
    "what_happened": TEXT,
    "help": ["account", "fake"],
    "name": "canary-page-Rania",
    "role": "journalist",
    "country": "SY",
    "contact_channel": "signal",
    "contact_handle": "+963 944 555 111",
    "safe_times": "بعد العاشرة مساءً",
    "avoid": ["whatsapp"],
    "consent": ["anonymous_statistics"],
}
PAGES = ["/", "/ar", "/fr", "/en", "/ar/follow-up", "/fr/follow-up", "/en/follow-up"]
EXTERNAL = re.compile(r"""(?:src|href|action)\s*=\s*["']?(?:https?:)?//""", re.I)


def csp_of(response: httpx.Response) -> dict[str, str]:
    (policy,) = response.headers.get_list("content-security-policy")
    return dict((part.strip() + " ").split(" ", 1) for part in policy.split(";"))


async def post_form(client: httpx.AsyncClient, lang: str, form: dict[str, Any]) -> httpx.Response:
    return await client.post(f"/{lang}", data=form)


def follow_up_link(html: str) -> tuple[str, str, str]:
    (link,) = set(re.findall(r'href="(http://testserver/[a-z]{2}/follow-up\?[^"]+)"', html))
    parts = urlsplit(link.replace("&amp;", "&"))
    query = parse_qs(parts.query)
    return parts.path + "?" + parts.query, query["ref"][0], query["token"][0]


@pytest.mark.parametrize("path", PAGES)
async def test_every_page_is_small_strict_and_self_contained(
    client: httpx.AsyncClient, path: str
) -> None:
    response = await client.get(path)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert len(response.content) < 50 * 1024
    csp = csp_of(response)
    assert csp["default-src"].strip() == "'none'"
    assert csp["style-src"].strip().startswith("'sha256-")
    assert csp["form-action"].strip() == "'self'"
    assert csp["frame-ancestors"].strip() == "'none'"
    assert "<script" not in response.text
    assert not EXTERNAL.search(response.text)
    assert "http" not in response.text.replace("http-equiv", "")


@pytest.mark.parametrize(
    ("path", "lang", "direction"),
    [("/", "ar", "rtl"), ("/ar", "ar", "rtl"), ("/fr", "fr", "ltr"), ("/en", "en", "ltr")],
)
async def test_the_language_comes_from_the_path_and_arabic_is_right_to_left(
    client: httpx.AsyncClient, path: str, lang: str, direction: str
) -> None:
    html = (await client.get(path)).text

    assert f'<html lang="{lang}" dir="{direction}">' in html


@pytest.mark.parametrize(
    ("header", "lang"),
    [("fr-FR,fr;q=0.9", "fr"), ("de,en;q=0.5", "en"), ("de", "ar"), ("en;q=0.2,ar;q=0.8", "ar")],
)
async def test_the_root_page_follows_accept_language(
    client: httpx.AsyncClient, header: str, lang: str
) -> None:
    html = (await client.get("/", headers={"accept-language": header})).text

    assert f'<html lang="{lang}"' in html


async def test_the_form_shows_plain_choices_never_taxonomy_ids(client: httpx.AsyncClient) -> None:
    html = (await client.get("/en")).text

    for category_id in ("account_compromise", "doxxing", "device_compromise", "sextortion"):
        assert category_id not in html
    assert "My account was taken over" in html


async def test_posting_the_form_opens_a_ticket_and_shows_the_reference_and_link_once(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth
) -> None:
    response = await post_form(client, "ar", FORM)

    assert response.status_code == 201, response.text
    assert 'dir="rtl"' in response.text
    _, reference, token = follow_up_link(response.text)
    assert reference in response.text
    assert csp_of(response)["default-src"].strip() == "'none'"
    async with runtime.sessions() as session:
        ticket = (await session.execute(select(Ticket))).scalars().one()
        requester = (await session.execute(select(Requester))).scalars().one()
    assert (ticket.reference, ticket.channel, ticket.declared_language) == (reference, "web", "ar")
    assert ticket.requested_help == "account_compromise,impersonation,defamation"
    assert (requester.role, requester.country, requester.avoid_channels) == (
        "journalist",
        "SY",
        "whatsapp",
    )
    read = await client.get(f"/v1/tickets/{ticket.id}", headers=await auth(Scope.handler))
    assert read.json()["messages"][0]["text"] == TEXT
    assert read.json()["requester"]["contact"]["safe_times"] == FORM["safe_times"]
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    consent = [e for e in (decode(r.payload) for r in rows) if isinstance(e, ConsentChanged)]
    assert consent[0].data.consents[ConsentPurpose.anonymous_statistics] is True
    assert consent[0].data.source == "web"
    assert (
        token
        not in (
            await client.get(f"/v1/tickets/{ticket.id}", headers=await auth(Scope.handler))
        ).text
    )


@pytest.mark.parametrize(
    ("form", "status"),
    [
        ({**FORM, "what_happened": "   "}, 422),
        ({**FORM, "what_happened": "x" * 20_001}, 422),
        ({**FORM, "contact_handle": "9" * 400}, 422),
    ],
    ids=["blank", "too-long", "long-handle"],
)
async def test_an_invalid_form_comes_back_with_a_kind_message_not_a_500(
    client: httpx.AsyncClient, runtime: Runtime, form: dict[str, Any], status: int
) -> None:
    response = await post_form(client, "en", form)

    assert response.status_code == status
    assert 'role="alert"' in response.text
    assert "9" * 400 not in response.text
    async with runtime.sessions() as session:
        assert (await session.execute(select(Ticket))).first() is None


async def test_a_body_that_is_not_a_utf8_form_is_a_400_page(client: httpx.AsyncClient) -> None:
    bad = await client.post("/fr", content=b"what_happened=%FF%FE", headers={"content-type": _FORM})
    json_body = await client.post("/fr", json={"what_happened": "x"})

    assert (bad.status_code, json_body.status_code) == (400, 400)


_FORM = "application/x-www-form-urlencoded"


# --- follow-up ----------------------------------------------------------------


@pytest.fixture
async def case(client: httpx.AsyncClient) -> tuple[str, str, str]:
    return follow_up_link((await post_form(client, "en", FORM)).text)


async def test_the_follow_up_page_shows_status_and_replies_but_not_internal_notes(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, case: tuple[str, str, str]
) -> None:
    link, _, _ = case
    headers = await auth(Scope.handler)
    async with runtime.sessions() as session:
        ticket_id = (await session.execute(select(col(Ticket.id)))).scalar_one()
    for body in (
        {"text": "Please reset your password now."},
        {"text": "canary-note-internal", "internal": True},
    ):
        added = await client.post(f"/v1/tickets/{ticket_id}/messages", json=body, headers=headers)
        assert added.status_code == 201
    await client.post(f"/v1/tickets/{ticket_id}/status", json={"status": "open"}, headers=headers)

    page = await client.get(link)

    assert page.status_code == 200
    assert "We are working on it" in page.text
    assert "Please reset your password now." in page.text
    assert "canary-note-internal" not in page.text
    assert TEXT not in page.text


async def test_a_wrong_token_gets_the_same_answer_as_an_unknown_reference(
    client: httpx.AsyncClient, case: tuple[str, str, str]
) -> None:
    _, reference, token = case
    # A different last character (whatever the token ends with).
    wrong_token = token[:-1] + ("y" if token.endswith("x") else "x")
    wrong = await client.get("/en/follow-up", params={"ref": reference, "token": wrong_token})
    unknown = await client.get("/en/follow-up", params={"ref": "SND-00000", "token": token})

    assert wrong.status_code == unknown.status_code == 404
    assert wrong.text == unknown.text


async def test_follow_up_attempts_are_rate_limited_per_reference(
    client: httpx.AsyncClient, case: tuple[str, str, str]
) -> None:
    _, reference, _ = case
    statuses = [
        (
            await client.get("/en/follow-up", params={"ref": reference, "token": f"guess-{n}"})
        ).status_code
        for n in range(12)
    ]

    assert statuses[:10] == [404] * 10
    assert statuses[-1] == 429


async def test_adding_information_publishes_the_message_and_reopens_the_ticket(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, case: tuple[str, str, str]
) -> None:
    _, reference, token = case
    headers = await auth(Scope.handler)
    async with runtime.sessions() as session:
        ticket_id = (await session.execute(select(col(Ticket.id)))).scalar_one()
    for status in ("open", "resolved"):
        await client.post(
            f"/v1/tickets/{ticket_id}/status", json={"status": status}, headers=headers
        )

    response = await client.post(
        "/en/follow-up",
        data={"ref": reference.lower(), "token": token, "text": "It happened again."},
    )

    assert response.status_code == 200, response.text
    assert "We added what you wrote" in response.text
    assert "We are working on it" in response.text
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    events = [decode(r.payload) for r in rows]
    added = [e for e in events if isinstance(e, TicketMessageAdded)]
    assert [(e.data.author, e.data.channel) for e in added][-1] == ("requester", "web")
    assert added[-1].data.sealed_text is not None
    assert events[-1].type == "sanad.intake.ticket.status_changed"
    assert uuid.UUID(str(events[-1].ticket_id)) == ticket_id


async def test_adding_with_a_wrong_token_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime, case: tuple[str, str, str]
) -> None:
    _, reference, _ = case
    response = await client.post(
        "/en/follow-up", data={"ref": reference, "token": "nope", "text": "canary-intruder"}
    )

    assert response.status_code == 404
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    assert not any(r.subject.endswith("message_added") for r in rows)


async def test_the_follow_up_link_uses_the_public_address_and_not_the_host_header(
    settings: IntakeSettings,
) -> None:
    configured = settings.model_copy(update={"public_base_url": "https://help.example.org/"})
    app = create_app(configured)
    async with serve(app) as client:
        response = await post_form(client, "en", FORM)
        forged = await client.post(
            "/en",
            content=urlencode(FORM, doseq=True),
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "host": "evil.example",
            },
        )
    assert response.status_code == forged.status_code == 201
    for page in (response.text, forged.text):
        assert 'href="https://help.example.org/en/follow-up?ref=' in page
        assert "evil.example" not in page
