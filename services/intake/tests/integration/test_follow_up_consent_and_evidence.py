"""The follow-up page, as the person uses it without JavaScript: their consent, and files.

Everything here goes through real HTML POSTs (urlencoded for consent, multipart for a
file), as a browser sends them from the page's own forms.
"""

from __future__ import annotations

import hashlib
import re
import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlmodel import col

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from services.intake.models import Attachment, ConsentChange, Ticket
from services.intake.tests.conftest import Auth
from services.intake.tests.integration.test_pages import FORM, follow_up_link, post_form
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import ConsentChanged, ConsentPurpose, decode
from shared.testing.asgi import runtime_of, serve

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + bytes(range(256)) * 4
PDF = b"%PDF-1.7\n" + b"1 0 obj << /Type /Catalog >> endobj\n" * 40


@pytest.fixture
async def case(client: httpx.AsyncClient) -> tuple[str, str, str]:
    return follow_up_link((await post_form(client, "en", FORM)).text)


async def consent_events(runtime: Runtime) -> list[ConsentChanged]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    return [e for e in (decode(r.payload) for r in rows) if isinstance(e, ConsentChanged)]


async def ticket_id_of(runtime: Runtime) -> uuid.UUID:
    async with runtime.sessions() as session:
        found: uuid.UUID = (await session.execute(select(col(Ticket.id)))).scalar_one()
    return found


def checked(html: str) -> set[str]:
    return set(re.findall(r'name="consent" value="([a-z_]+)" checked', html))


# --- consent --------------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["ar", "fr", "en"])
async def test_the_page_shows_what_the_person_agreed_to_in_their_language(
    client: httpx.AsyncClient, case: tuple[str, str, str], lang: str
) -> None:
    _, reference, token = case
    page = await client.get(f"/{lang}/follow-up", params={"ref": reference, "token": token})

    assert page.status_code == 200
    # The form was posted with statistics only.
    assert checked(page.text) == {"anonymous_statistics"}
    assert 'name="wording_version" value="consent-2026-01"' in page.text
    assert f'action="/{lang}/follow-up"' in page.text
    assert "<script" not in page.text


async def test_the_requester_revokes_and_grants_and_each_change_is_recorded_and_published(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, case: tuple[str, str, str]
) -> None:
    _, reference, token = case
    base = {
        "ref": reference,
        "token": token,
        "action": "consent",
        "wording_version": "consent-2026-01",
    }

    # Untick statistics, tick partners: revoke one, grant another.
    response = await client.post("/fr/follow-up", data={**base, "consent": ["share_with_partners"]})

    assert response.status_code == 200, response.text
    assert "Votre choix est enregistré" in response.text
    assert checked(response.text) == {"share_with_partners"}
    events = await consent_events(runtime)
    assert len(events) == 2
    last = events[-1].data
    assert last.consents == {
        ConsentPurpose.share_with_platforms: False,
        ConsentPurpose.share_with_partners: True,
        ConsentPurpose.anonymous_statistics: False,
    }
    assert (last.source, last.wording_version) == ("web", "consent-2026-01")
    assert events[-1].ticket_id == await ticket_id_of(runtime)
    async with runtime.sessions() as session:
        rows = (await session.execute(select(ConsentChange))).scalars().all()
    assert [(r.source, r.actor_id) for r in rows] == [("web", "requester")] * 2

    # Nothing ticked: every consent taken back; the handler's view shows the whole history.
    revoked = await client.post("/ar/follow-up", data=base)
    assert revoked.status_code == 200
    assert checked(revoked.text) == set()
    requester_id = events[-1].data.requester_id
    seen = await client.get(
        f"/v1/requesters/{requester_id}/consent", headers=await auth(Scope.handler)
    )
    assert seen.json()["consents"] == dict.fromkeys(
        ("share_with_platforms", "share_with_partners", "anonymous_statistics"), False
    )
    assert [(h["source"], h["actor_id"]) for h in seen.json()["history"]] == [
        ("web", "requester")
    ] * 3


async def test_consent_needs_the_token_and_a_known_wording(
    client: httpx.AsyncClient, runtime: Runtime, case: tuple[str, str, str]
) -> None:
    _, reference, token = case
    intruder = await client.post(
        "/en/follow-up",
        data={"ref": reference, "token": "guess", "action": "consent", "wording_version": "x"},
    )
    unknown_wording = await client.post(
        "/en/follow-up",
        data={
            "ref": reference,
            "token": token,
            "action": "consent",
            "wording_version": "consent-1999",
            "consent": ["share_with_platforms"],
        },
    )

    assert intruder.status_code == 404
    assert unknown_wording.status_code == 422
    assert len(await consent_events(runtime)) == 1


async def test_consent_changes_are_rate_limited_like_the_rest_of_the_page(
    client: httpx.AsyncClient, case: tuple[str, str, str]
) -> None:
    _, reference, _ = case
    statuses = [
        (
            await client.post(
                "/en/follow-up",
                data={"ref": reference, "token": f"guess-{n}", "action": "consent"},
            )
        ).status_code
        for n in range(12)
    ]

    assert statuses[:10] == [404] * 10
    assert statuses[-1] == 429


# --- evidence -------------------------------------------------------------------------


async def test_the_page_has_a_file_box_that_needs_no_javascript(
    client: httpx.AsyncClient, case: tuple[str, str, str]
) -> None:
    link, _, _ = case
    page = await client.get(link)

    assert 'enctype="multipart/form-data"' in page.text
    assert '<input type="file" id="evidence" name="evidence">' in page.text
    assert "up to 10 MB" in page.text


async def test_a_file_is_typed_by_its_content_hashed_stored_once_and_served_only_to_handlers(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, case: tuple[str, str, str]
) -> None:
    _, reference, token = case
    fields = {"ref": reference, "token": token, "text": "The screenshot of the threat."}
    # Declared as a PDF, named .pdf: it is a PNG, and that is what is recorded.
    files = {"evidence": ("threat.pdf", PNG, "application/pdf")}

    first = await client.post("/en/follow-up", data=fields, files=files)
    again = await client.post("/en/follow-up", data={**fields, "text": ""}, files=files)
    other = await client.post(
        "/en/follow-up", data={**fields, "text": ""}, files={"evidence": ("a.txt", PDF)}
    )

    assert [first.status_code, again.status_code, other.status_code] == [200, 200, 200]
    assert "We added what you wrote" in again.text
    async with runtime.sessions() as session:
        rows = (await session.execute(select(Attachment))).scalars().all()
    stored = [r for r in rows if r.content_enc is not None]
    assert len(rows) == 3
    assert len(stored) == 2
    (repeat,) = [r for r in rows if r.duplicate_of is not None]
    assert repeat.duplicate_of == next(r.id for r in stored if r.mime_type == "image/png")
    # At rest, neither file is readable.
    assert all(PNG[16:80] not in (r.content_enc or b"") for r in stored)
    assert all(b"Catalog" not in (r.content_enc or b"") for r in stored)

    ticket_id = await ticket_id_of(runtime)
    handler = await auth(Scope.handler)
    ticket = (await client.get(f"/v1/tickets/{ticket_id}", headers=handler)).json()
    files_seen = [a for m in ticket["messages"] for a in m["attachments"]]
    assert [(a["mime_type"], a["kind"], a["channel"]) for a in files_seen] == [
        ("image/png", "image", "web"),
        ("image/png", "image", "web"),
        ("application/pdf", "document", "web"),
    ]
    assert files_seen[0]["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert files_seen[0]["size"] == len(PNG)
    assert files_seen[1]["duplicate_of"] == files_seen[0]["id"]

    path = f"/v1/tickets/{ticket_id}/attachments/{files_seen[1]['id']}"
    download = await client.get(path, headers=handler)
    assert download.status_code == 200
    assert download.content == PNG
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment")
    assert (await client.get(path)).status_code == 401
    assert (await client.get(path, headers=await auth(Scope.analyst))).status_code == 403


async def test_a_file_over_the_limit_gets_a_kind_413_page_and_nothing_is_stored(
    settings: IntakeSettings,
) -> None:
    small = settings.model_copy(update={"evidence_max_bytes": 2048})
    app = create_app(small)
    async with serve(app) as client:
        _, reference, token = follow_up_link((await post_form(client, "en", FORM)).text)
        response = await client.post(
            "/en/follow-up",
            data={"ref": reference, "token": token, "text": "big one"},
            files={"evidence": ("big.pdf", PDF * 3)},
        )
        assert response.status_code == 413
        assert "larger than" in response.text
        async with runtime_of(app).sessions() as session:
            assert (await session.execute(select(Attachment))).scalars().all() == []


async def test_neither_text_nor_file_is_a_422_page(
    client: httpx.AsyncClient, case: tuple[str, str, str]
) -> None:
    _, reference, token = case
    response = await client.post(
        "/en/follow-up",
        data={"ref": reference, "token": token, "text": "  "},
        files={"evidence": ("", b"")},
    )

    assert response.status_code == 422
    assert "Write something or add a file." in response.text


async def test_a_malformed_multipart_body_is_a_page_not_a_500(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/en/follow-up",
        content=b'--xyz\r\nContent-Disposition: form-data; name="ref"\r\n\r\nSND-1',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )

    assert response.status_code == 404
    assert "<html" in response.text
