"""Reading mail (pure): bodies, charsets, headers, attachments, thread ids; reply rules."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from services.intake import domain, mail


def _raw(headers: str, body: bytes) -> bytes:
    return headers.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body


def test_plain_text_is_preferred_to_its_html_alternative() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg.set_content("plain words")
    msg.add_alternative("<p>html words</p>", subtype="html")

    parsed = mail.parse(msg.as_bytes())

    assert parsed.text == "plain words"
    assert parsed.attachments == ()


def test_html_loses_scripts_styles_and_keeps_links_and_blocks() -> None:
    html = (
        "<html><head><title>t</title><style>.a{}</style></head><body>"
        "<div>Line&nbsp;one<br>Line two</div><script>steal()</script>"
        "<table><tr><td>a</td><td>b</td></tr></table>"
        "<a href='https://x.example/p'>https://x.example/p</a> "
        "<a href='javascript:alert(1)'>bad</a></body></html>"
    )

    assert mail.html_to_text(html) == "Line one\nLine two\n\na b\n\nhttps://x.example/p bad"


def test_an_unknown_charset_falls_back_to_utf8_then_windows_1256() -> None:
    arabic = "حسابي"
    utf8 = _raw("From: a@b.example\nContent-Type: text/plain; charset=bogus", arabic.encode())
    cp1256 = _raw(
        "From: a@b.example\nContent-Type: text/plain; charset=bogus", arabic.encode("cp1256")
    )

    assert mail.parse(utf8).text == arabic
    assert mail.parse(cp1256).text == arabic


def test_raw_8bit_headers_are_decoded_like_the_body() -> None:
    raw = (
        b"From: " + "سارة".encode("cp1256") + b" <s@example.org>\r\n"
        b"Subject: " + "مساعدة".encode("cp1256") + b"\r\n"
        b"Content-Type: text/plain; charset=windows-1256\r\n\r\n" + "نص".encode("cp1256")
    )

    parsed = mail.parse(raw)

    assert (parsed.name, parsed.sender, parsed.subject, parsed.text) == (
        "سارة",
        "s@example.org",
        "مساعدة",
        "نص",
    )


def test_thread_ids_and_references_are_read() -> None:
    raw = _raw(
        "From: a@b.example\nMessage-ID: <m1@b.example>\nIn-Reply-To: <r1@x>\n"
        "References: <r0@x> <r1@x>\nSubject: RE: Fwd: [snd-7k3q9] [SND-ABCDE] [SND-ILOU0] hi",
        b"text",
    )

    parsed = mail.parse(raw)

    assert parsed.message_id == "m1@b.example"
    assert parsed.thread_ids == ("r1@x", "r0@x")
    # I, L, O and U are not in references.
    assert parsed.references == ("SND-7K3Q9", "SND-ABCDE")
    assert mail.clean_subject(parsed.subject) == "[SND-ILOU0] hi"


def test_the_envelope_sender_stands_in_for_a_missing_from() -> None:
    assert mail.parse(b"Subject: x\r\n\r\nbody", envelope_sender="e@example.org").sender == (
        "e@example.org"
    )
    assert mail.parse(b"Subject: x\r\n\r\nbody", envelope_sender="").sender is None


def test_a_forwarded_mail_is_one_attachment_and_extra_files_are_counted() -> None:
    inner = EmailMessage()
    inner["From"] = "scammer@example.net"
    inner["Subject"] = "Verify your account"
    inner.set_content("click here")
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg.set_content("look at this phishing mail")
    msg.add_attachment(inner)
    for n in range(3):
        msg.add_attachment(
            b"x%d" % n, maintype="image", subtype="jpeg", filename=f"C:\\tmp\\{n}.jpg"
        )

    parsed = mail.parse(msg.as_bytes(), max_attachments=2)

    forwarded, first = parsed.attachments
    assert (forwarded.mime_type, forwarded.filename) == ("message/rfc822", "forwarded.eml")
    assert b"Verify your account" in forwarded.content
    assert (first.kind, first.filename, first.content) == ("image", "0.jpg", b"x0")
    assert parsed.dropped_attachments == 2
    assert parsed.ticket_text(joining=True).endswith("[2 more attachment(s) not kept]")


def test_ticket_text_of_a_mail_with_only_files_or_nothing() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.org"
    msg.add_attachment(b"data", maintype="application", subtype="pdf")

    assert mail.parse(msg.as_bytes()).ticket_text(joining=False) == "[document]"
    assert mail.parse(b"From: a@example.org\r\n\r\n").ticket_text(joining=False) == "[empty email]"


def test_a_quote_only_reply_keeps_its_text() -> None:
    assert mail.without_quote("> only a quote") == "> only a quote"
    assert mail.without_quote("yes\n\nOn Monday someone wrote:\n> q\n> q") == "yes"


def test_the_same_bytes_make_the_same_id_without_a_message_id() -> None:
    raw = b"From: a@example.org\r\n\r\nhello"
    parsed = mail.parse(raw)

    assert mail.provider_id(parsed, raw) == mail.provider_id(mail.parse(raw), raw)
    assert mail.provider_id(parsed, raw) != mail.provider_id(parsed, raw + b"!")


@pytest.mark.parametrize(
    ("declared", "text", "expected"),
    [
        ("fr-FR", "Hello", "fr"),
        (None, "مرحبا، غيّري كلمة المرور", "ar"),
        (None, "Bonjour, votre compte est protégé", "fr"),
        (None, "Hello, your account is safe", "en"),
        ("de", "Hello", "en"),
    ],
)
def test_reply_language(declared: str | None, text: str, expected: str) -> None:
    assert domain.reply_language(declared, text) == expected


def test_retry_delay_doubles_up_to_its_cap() -> None:
    delays = [domain.retry_delay(n, base=30, cap=3600) for n in range(1, 10)]

    assert delays[:4] == [30, 60, 120, 240]
    assert delays[-1] == 3600
    assert domain.retry_delay(10_000, base=30, cap=3600) == 3600
