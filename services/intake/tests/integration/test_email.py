"""Email in through the real SMTP server intake starts: tickets, threading, charsets, files."""

from __future__ import annotations

import asyncio
import base64
import smtplib
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import col

from services.intake.config import IntakeSettings
from services.intake.main import create_app
from services.intake.models import Attachment, Message, Ticket
from services.intake.tests.conftest import Auth
from shared.app import Runtime
from shared.auth import Scope
from shared.testing.asgi import serve
from shared.testing.nats_server import free_port

HELPLINE = "help@sanad.test"
RANA = "rana.k@example.org"
TEXT = "Someone hacked my Instagram and is messaging my sources."


@pytest.fixture
def settings(settings: IntakeSettings) -> IntakeSettings:
    return settings.model_copy(
        update={
            "smtp_port": free_port(),
            "email_addresses": f"{HELPLINE}, other-desk@sanad.test",
            "smtp_max_message_bytes": 256 * 1024,
        }
    )


def mail(
    text: str = TEXT,
    *,
    sender: str = RANA,
    name: str = "Rana K",
    subject: str = "Help with my account",
    **headers: str,
) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>"
    msg["To"] = HELPLINE
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.org")
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(text)
    return msg


async def send(
    settings: IntakeSettings,
    msg: EmailMessage | bytes,
    *,
    sender: str = RANA,
    to: tuple[str, ...] = (HELPLINE,),
) -> None:
    """Through smtplib to the server on the app's loop (so from a thread)."""

    def _send() -> None:
        with smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=10) as smtp:
            if isinstance(msg, bytes):
                smtp.sendmail(sender, list(to), msg)
            else:
                smtp.send_message(msg, from_addr=sender, to_addrs=list(to))

    await asyncio.to_thread(_send)


async def ticket_ids(runtime: Runtime) -> list[Any]:
    async with runtime.sessions() as session:
        query = select(col(Ticket.id)).order_by(col(Ticket.received_at))
        return list((await session.execute(query)).scalars().all())


async def read(client: httpx.AsyncClient, auth: Auth, ticket_id: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/tickets/{ticket_id}", headers=await auth(Scope.handler))
    assert response.status_code == 200, response.text
    ticket: dict[str, Any] = response.json()
    return ticket


async def only_ticket(client: httpx.AsyncClient, runtime: Runtime, auth: Auth) -> dict[str, Any]:
    (ticket_id,) = await ticket_ids(runtime)
    return await read(client, auth, ticket_id)


async def test_a_new_mail_opens_a_ticket_with_the_sender_encrypted(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    await send(settings, mail())

    ticket = await only_ticket(client, runtime, auth)
    assert ticket["channel"] == "email"
    assert ticket["status"] == "new"
    assert ticket["reference"].startswith("SND-")
    assert ticket["requester"]["name"] == "Rana K"
    assert ticket["requester"]["contact"] == {
        "channel": "email",
        "handle": RANA,
        "safe_times": None,
        "avoid": [],
    }
    (message,) = ticket["messages"]
    assert message["author"] == "requester"
    assert message["text"] == f"Help with my account\n\n{TEXT}"
    async with runtime.sessions() as session:
        (stored,) = (await session.execute(select(Message))).scalars().all()
    assert stored.provider_ref is not None
    assert stored.provider_id_enc is not None
    assert b"example.org" not in stored.provider_id_enc


async def test_a_mail_delivered_twice_is_stored_once(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings
) -> None:
    msg = mail()
    await send(settings, msg)
    await send(settings, msg)

    assert len(await ticket_ids(runtime)) == 1


async def test_a_reply_naming_the_reference_joins_and_reopens_the_ticket(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    await send(settings, mail())
    first = await only_ticket(client, runtime, auth)
    closed = await client.post(
        f"/v1/tickets/{first['id']}/close",
        json={"outcome": "resolved"},
        headers=await auth(Scope.handler),
    )
    assert closed.status_code == 200, closed.text

    reply = (
        "They wrote again today.\n\nOn Monday the helpline wrote:\n> Please change your password"
    )
    # Another case of the address: the reference is matched whatever the case.
    await send(
        settings,
        mail(
            reply, sender="Rana.K@Example.org", subject=f"Re: [{first['reference'].lower()}] Reply"
        ),
    )

    ticket = await only_ticket(client, runtime, auth)
    assert [m["text"] for m in ticket["messages"]] == [
        f"Help with my account\n\n{TEXT}",
        "They wrote again today.",
    ]
    assert ticket["status"] == "open"


async def test_a_reply_to_the_persons_own_mail_joins_by_in_reply_to(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    first = mail()
    await send(settings, first)

    await send(settings, mail("More details", subject="Re: Help", In_Reply_To=first["Message-ID"]))
    await send(
        settings, mail("And more", subject="Fwd: x", References=f"<a@b.c> {first['Message-ID']}")
    )

    ticket = await only_ticket(client, runtime, auth)
    assert [m["text"] for m in ticket["messages"]][1:] == ["More details", "And more"]


async def test_someone_else_naming_a_reference_opens_a_ticket_of_their_own(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    first = mail()
    await send(settings, first)
    reference = (await only_ticket(client, runtime, auth))["reference"]

    intruder = "curious@example.net"
    await send(
        settings,
        mail(
            "Add this to the case",
            sender=intruder,
            subject=f"Re: [{reference}]",
            In_Reply_To=first["Message-ID"],
        ),
        sender=intruder,
    )

    victim, other = [await read(client, auth, t) for t in await ticket_ids(runtime)]
    assert len(victim["messages"]) == 1
    assert other["reference"] != reference
    assert other["requester"]["contact"]["handle"] == intruder
    assert other["requester"]["id"] != victim["requester"]["id"]


async def test_html_only_mail_becomes_readable_text(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    msg = mail()
    msg.set_content(
        "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
        "<body><p>My page was <b>taken&nbsp;down</b>.</p>"
        "<p>The fake one is <a href='https://www.facebook.com/fake.page'>here</a>.</p>"
        "<ul><li>first</li><li>second</li></ul></body></html>",
        subtype="html",
    )
    await send(settings, msg)

    (message,) = (await only_ticket(client, runtime, auth))["messages"]
    assert message["text"] == (
        "Help with my account\n\nMy page was taken down.\n\n"
        "The fake one is here (https://www.facebook.com/fake.page).\n\n- first\n- second"
    )


ARABIC = "تم اختراق حسابي على فيسبوك وتغيير كلمة المرور"


@pytest.mark.parametrize("charset", ["windows-1256", "utf-8"])
@pytest.mark.parametrize("transfer", ["8bit", "quoted-printable", "base64"])
async def test_arabic_in_any_charset_is_read(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    settings: IntakeSettings,
    charset: str,
    transfer: str,
) -> None:
    msg = mail(subject="=?windows-1256?b?" + _b64(ARABIC[:8].encode("cp1256")) + "?=")
    msg.set_content(ARABIC, charset=charset, cte=transfer)

    await send(settings, msg.as_bytes())

    (message,) = (await only_ticket(client, runtime, auth))["messages"]
    assert message["text"] == f"{ARABIC[:8].strip()}\n\n{ARABIC}"


async def test_undeclared_windows_1256_and_a_broken_charset_are_read_leniently(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    head = f"From: {RANA}\r\nTo: {HELPLINE}\r\nMessage-ID: <x1@example.org>\r\n"
    undeclared = (head + "Subject: hi\r\n\r\n").encode() + ARABIC.encode("cp1256")
    broken = (
        f"From: {RANA}\r\nTo: {HELPLINE}\r\nMessage-ID: <x2@example.org>\r\nSubject: hi\r\n"
        "Content-Type: text/plain; charset=no-such-charset\r\n\r\n"
    ).encode() + ARABIC.encode("utf-8")

    await send(settings, undeclared)
    await send(settings, broken)

    first, second = [await read(client, auth, t) for t in await ticket_ids(runtime)]
    assert first["messages"][0]["text"] == f"hi\n\n{ARABIC}"
    assert second["messages"][0]["text"] == f"hi\n\n{ARABIC}"


async def test_attachments_are_kept_encrypted_as_evidence(
    client: httpx.AsyncClient,
    runtime: Runtime,
    auth: Auth,
    settings: IntakeSettings,
    db_path: Path,
) -> None:
    screenshot = b"\x89PNG\r\n\x1a\n" + b"screenshot-of-the-threat-" * 40
    msg = mail("See the screenshot")
    msg.add_attachment(screenshot, maintype="image", subtype="png", filename="تهديد.png")
    msg.add_attachment(b"%PDF-1.4 letter", maintype="application", subtype="pdf")
    await send(settings, msg)

    ticket = await only_ticket(client, runtime, auth)
    (message,) = ticket["messages"]
    image, pdf = message["attachments"]
    assert (image["kind"], image["mime_type"], image["filename"]) == (
        "image",
        "image/png",
        "تهديد.png",
    )
    assert (image["stored"], image["size"]) == (True, len(screenshot))
    assert (pdf["kind"], pdf["filename"], pdf["stored"]) == ("document", None, True)
    download = await client.get(
        f"/v1/tickets/{ticket['id']}/attachments/{image['id']}",
        headers=await auth(Scope.handler),
    )
    assert download.status_code == 200
    assert download.content == screenshot
    assert download.headers["content-type"] == "application/octet-stream"
    assert download.headers["content-disposition"].startswith("attachment; filename*=UTF-8''")
    database = await asyncio.to_thread(db_path.read_bytes)
    assert b"screenshot-of-the-threat" not in database
    async with runtime.sessions() as session:
        count = (await session.execute(select(func.count()).select_from(Attachment))).scalar_one()
    assert count == 2


async def test_a_file_is_downloaded_only_from_its_own_ticket(
    client: httpx.AsyncClient, runtime: Runtime, auth: Auth, settings: IntakeSettings
) -> None:
    msg = mail("file")
    msg.add_attachment(b"data", maintype="application", subtype="octet-stream", filename="a")
    await send(settings, msg)
    await send(
        settings, mail("another", sender="someone@example.net"), sender="someone@example.net"
    )
    first, second = [await read(client, auth, t) for t in await ticket_ids(runtime)]
    attachment = first["messages"][0]["attachments"][0]

    wrong = await client.get(
        f"/v1/tickets/{second['id']}/attachments/{attachment['id']}",
        headers=await auth(Scope.handler),
    )
    anonymous = await client.get(f"/v1/tickets/{first['id']}/attachments/{attachment['id']}")

    assert wrong.status_code == 404
    assert wrong.headers["content-type"] == "application/problem+json"
    assert anonymous.status_code == 401


async def test_oversized_mail_is_refused_with_552(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings
) -> None:
    msg = mail("x")
    msg.add_attachment(
        b"\0" * settings.smtp_max_message_bytes, maintype="application", subtype="zip"
    )

    with pytest.raises(smtplib.SMTPResponseException) as refused:
        await send(settings, msg)

    assert refused.value.smtp_code == 552
    assert await ticket_ids(runtime) == []


async def test_mail_for_another_address_is_refused_with_550(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings
) -> None:
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        await send(settings, mail(), to=("someone@elsewhere.example",))

    ((code, _),) = refused.value.recipients.values()
    assert code == 550
    assert await ticket_ids(runtime) == []


async def test_every_helpline_address_is_accepted_and_a_mail_counts_once(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings
) -> None:
    await send(settings, mail(), to=(HELPLINE, "Other-Desk@sanad.test"))

    assert len(await ticket_ids(runtime)) == 1


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


async def test_mail_without_any_sender_address_is_refused(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings
) -> None:
    raw = f"To: {HELPLINE}\r\nSubject: hi\r\n\r\nno one to answer".encode()

    with pytest.raises(smtplib.SMTPDataError) as refused:
        await send(settings, raw, sender="")

    assert refused.value.smtp_code == 550
    assert await ticket_ids(runtime) == []


async def test_connections_beyond_the_limit_are_told_to_come_back(
    app_settings_limit: IntakeSettings,
) -> None:
    app = create_app(app_settings_limit)
    async with serve(app):

        def connect() -> smtplib.SMTP:
            return smtplib.SMTP(
                app_settings_limit.smtp_host, app_settings_limit.smtp_port, timeout=10
            )

        first = await asyncio.to_thread(connect)
        try:
            with pytest.raises(smtplib.SMTPConnectError) as refused:
                await asyncio.to_thread(connect)
        finally:
            await asyncio.to_thread(first.quit)
        # The slot frees once the server has seen the first connection close.
        for _ in range(100):
            try:
                again = await asyncio.to_thread(connect)
            except smtplib.SMTPConnectError:
                await asyncio.sleep(0.02)
                continue
            await asyncio.to_thread(again.quit)
            break
        else:
            pytest.fail("the slot was never freed")

    assert refused.value.smtp_code == 421


@pytest.fixture
def app_settings_limit(settings: IntakeSettings) -> IntakeSettings:
    return settings.model_copy(update={"smtp_max_connections": 1})
