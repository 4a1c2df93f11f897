"""An email read into what intake stores: its text (plain preferred, HTML made readable, any
charset, broken ones decoded leniently), its attachments, and the ids that thread it.

Pure: bytes in, a `ParsedMail` out; the SMTP server and the database are elsewhere.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import parseaddr
from html.parser import HTMLParser

MAX_TEXT = 20_000
MAX_NAME = 200
MAX_FILENAME = 200
# In-Reply-To and References together: a long thread's oldest ids add nothing.
MAX_THREAD_IDS = 20
_REFERENCE = re.compile(r"\[\s*(SND-[0-9A-HJKMNP-TV-Z]{5})\s*\]", re.IGNORECASE)
_MESSAGE_ID = re.compile(r"<([^<>\s]{1,250})>")
# Re:, Fwd:, Tr: (French), رد: and their repetitions, before a subject.
_REPLY_PREFIX = re.compile(r"^\s*(?:(?:re|fwd?|tr|aw|رد|إعادة توجيه)\s*:\s*)+", re.IGNORECASE)
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ALTERNATIVE_BODIES = ("text/plain", "text/html")


@dataclass(frozen=True)
class MailAttachment:
    content: bytes
    mime_type: str
    filename: str | None
    # image, audio, video or document, as the other channels class files.
    kind: str
    sha256: str


@dataclass(frozen=True)
class ParsedMail:
    sender: str | None
    name: str | None
    # The Message-ID without its angle brackets; None when the mail has none.
    message_id: str | None
    subject: str
    text: str
    # In-Reply-To first, then References from the newest: the mails this one answers.
    thread_ids: tuple[str, ...]
    # SND-XXXXX references found in brackets in the subject, upper-cased.
    references: tuple[str, ...]
    attachments: tuple[MailAttachment, ...]
    # Attachments beyond the limit, not kept (the ticket's text says how many).
    dropped_attachments: int = 0

    def ticket_text(self, *, joining: bool) -> str:
        """The message text as stored: the subject heads a new ticket; quotes leave a reply."""
        body = without_quote(self.text) if joining else self.text
        subject = clean_subject(self.subject)
        parts = [body] if joining or not subject else [subject, body]
        text = "\n\n".join(p for p in parts if p)
        if not text and self.attachments:
            # A file without words still needs a line of text for the ticket and triage.
            text = ", ".join(f"[{a.kind}]" for a in self.attachments)
        if self.dropped_attachments:
            text += f"\n\n[{self.dropped_attachments} more attachment(s) not kept]"
        return text.strip()[:MAX_TEXT] or "[empty email]"


def provider_id(mail: ParsedMail, raw: bytes) -> str:
    """What makes a delivery of this mail the same as an earlier one: its Message-ID, or
    (without one) a digest of the bytes, which a retrying server sends again unchanged."""
    return mail.message_id or "sha256:" + hashlib.sha256(raw).hexdigest()


def parse(
    raw: bytes, *, max_attachments: int = 20, envelope_sender: str | None = None
) -> ParsedMail:
    """Read a whole RFC 5322 message; never raises on malformed input (defects are tolerated)."""
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)
    body = msg.get_body(preferencelist=("plain", "html"))
    text = ""
    body_charset = None
    if body is not None:
        body_charset = body.get_content_charset()
        text = part_text(body)
        if body.get_content_type() == "text/html":
            text = html_to_text(text)
    sender, name = _from(msg, body_charset)
    attachments: list[MailAttachment] = []
    dropped = 0
    for part in _leaves(msg):
        if part is body:
            continue
        attachment = _attachment(part, body_charset)
        if attachment is None:
            continue
        if len(attachments) < max_attachments:
            attachments.append(attachment)
        else:
            dropped += 1
    subject = _header(msg, "subject", body_charset)
    return ParsedMail(
        sender=sender or _address(envelope_sender),
        name=name,
        message_id=_first_id(_header(msg, "message-id", body_charset)),
        subject=subject,
        text=tidy(text)[:MAX_TEXT],
        thread_ids=_thread_ids(msg, body_charset),
        references=tuple(dict.fromkeys(r.upper() for r in _REFERENCE.findall(subject))),
        attachments=tuple(attachments),
        dropped_attachments=dropped,
    )


# --- text -----------------------------------------------------------------------


def part_text(part: Message) -> str:
    """A text part decoded: its charset, else UTF-8 when it is valid, else with replacements."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    declared = (part.get_content_charset() or "").strip().lower()
    if declared in ("", "us-ascii", "ascii"):
        # Mail often claims ASCII (or nothing) and carries UTF-8.
        return _lenient(payload, "utf-8")
    try:
        return payload.decode(declared, errors="replace")
    except LookupError:
        return _lenient(payload, "utf-8")


def _lenient(data: bytes, charset: str) -> str:
    try:
        return data.decode(charset)
    except UnicodeDecodeError:
        # Arabic mail without a usable charset is most often Windows-1256.
        for fallback in ("windows-1256", "latin-1"):
            try:
                return data.decode(fallback)
            except UnicodeDecodeError:
                continue
    return data.decode("utf-8", errors="replace")  # pragma: no cover - latin-1 always decodes


def tidy(text: str) -> str:
    """Line ends unified, runs of spaces and of blank lines collapsed, controls dropped."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return _BLANK_LINES.sub("\n\n", "\n".join(lines)).strip()


def without_quote(text: str) -> str:
    """A reply without the lines it quotes (`> ...`); the whole text if that is all it is."""
    kept = [line for line in text.split("\n") if not line.lstrip().startswith(">")]
    # "On Monday, X wrote:" just before the quote goes with it.
    while kept and kept[-1].rstrip().endswith(":") and len(kept[-1]) < 200:
        kept.pop()
    result = tidy("\n".join(kept))
    return result or text


def clean_subject(subject: str) -> str:
    """The subject without Re:/Fwd: and without our [SND-XXXXX] reference."""
    return _REPLY_PREFIX.sub("", _REFERENCE.sub("", subject)).strip()


class _HtmlText(HTMLParser):
    _SKIPPED = frozenset({"script", "style", "head", "title", "template", "noscript", "svg"})
    _BLOCKS = frozenset(
        {
            "address", "article", "blockquote", "br", "dd", "div", "dl", "dt", "footer",
            "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "ol", "p",
            "pre", "section", "table", "tr", "ul",
        }
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0
        self._links: list[str | None] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.parts.append("\n- " if tag == "li" else "\n")
        elif tag == "a":
            href = dict(attrs).get("href") or ""
            # A link's target is often the evidence (the fake account, the phishing page).
            self._links.append(href if href.startswith(("http://", "https://")) else None)
        elif tag == "td":
            self.parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._BLOCKS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS and tag != "li":
            self.parts.append("\n")
        elif tag == "a" and self._links:
            href = self._links.pop()
            # Unless the link's text is the address itself.
            if href and not self._skipping and (self.parts[-1:] or [""])[0].strip() != href:
                self.parts.append(f" ({href})")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(re.sub(r"\s+", " ", data))


def html_to_text(html: str) -> str:
    """Readable text of an HTML mail: blocks on their own lines, links kept, scripts dropped."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return tidy("".join(parser.parts))


# --- headers ----------------------------------------------------------------------


def _clean(value: str, charset: str | None) -> str:
    """A header as text: raw 8-bit bytes (undeclared) decoded like a body would be."""
    if _has_raw_bytes(value):
        raw = value.encode("utf-8", "surrogateescape")
        value = part_text_bytes(raw, charset)
    return "".join(ch for ch in value if ch.isprintable() or ch == " ").strip()


def part_text_bytes(data: bytes, charset: str | None) -> str:
    if charset:
        try:
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError):
            pass
    return _lenient(data, "utf-8")


def _header(msg: EmailMessage, name: str, charset: str | None) -> str:
    raw = next((str(v) for k, v in msg.raw_items() if k.lower() == name), None)
    if raw is None:
        return ""
    if _has_raw_bytes(raw):
        # Undeclared 8-bit text: the parsed header would hold only replacement characters.
        return _clean(" ".join(raw.split()), charset)
    try:
        value = msg.get(name)
    except (ValueError, TypeError, IndexError, AttributeError, LookupError):
        return _clean(" ".join(raw.split()), charset)
    return _clean(str(value), charset) if value is not None else ""


def _has_raw_bytes(value: str) -> bool:
    return any("\udc80" <= ch <= "\udcff" for ch in value)


def _from(msg: EmailMessage, charset: str | None) -> tuple[str | None, str | None]:
    name, address = None, None
    try:
        header = msg.get("from")
        addresses = getattr(header, "addresses", ()) if header is not None else ()
        if addresses:
            address, name = addresses[0].addr_spec, addresses[0].display_name
    except (ValueError, TypeError, IndexError, AttributeError):
        pass
    if not address:
        name, address = parseaddr(_header(msg, "from", charset))
    name = _clean(name or "", charset)[:MAX_NAME] or None
    return _address(_clean(address or "", charset)), name


def _address(value: str | None) -> str | None:
    value = (value or "").strip().strip("<>").strip()
    return value if "@" in value and len(value) <= 320 and " " not in value else None


def _first_id(value: str) -> str | None:
    found = _MESSAGE_ID.search(value)
    if found:
        return found.group(1)
    value = value.strip()
    return value[:250] if value and " " not in value else None


def _thread_ids(msg: EmailMessage, charset: str | None) -> tuple[str, ...]:
    replied = _MESSAGE_ID.findall(_header(msg, "in-reply-to", charset))
    references = _MESSAGE_ID.findall(_header(msg, "references", charset))
    ordered = [*replied, *reversed(references)]
    return tuple(dict.fromkeys(ordered))[:MAX_THREAD_IDS]


# --- attachments --------------------------------------------------------------------


def _leaves(part: Message) -> Iterator[Message]:
    # A forwarded mail (message/rfc822) is one attachment, not parts mixed into this one.
    if part.get_content_type() == "message/rfc822" or not part.is_multipart():
        yield part
        return
    payload = part.get_payload()
    if isinstance(payload, list):
        for child in payload:
            if isinstance(child, Message):
                yield from _leaves(child)


def _attachment(part: Message, charset: str | None) -> MailAttachment | None:
    mime_type = part.get_content_type()
    disposition = part.get_content_disposition()
    if mime_type in _ALTERNATIVE_BODIES and disposition != "attachment":
        # The other form of the body (the HTML beside the plain text), not a file.
        return None
    if mime_type == "message/rfc822":
        inner = part.get_payload()
        forwarded = inner[0] if isinstance(inner, list) and inner else None
        try:
            content = forwarded.as_bytes() if isinstance(forwarded, Message) else b""
        except (ValueError, TypeError, LookupError, UnicodeError):
            content = b""
        filename: str | None = "forwarded.eml"
    else:
        payload = part.get_payload(decode=True)
        content = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
    if not content:
        return None
    cleaned = _clean(filename, charset) if filename else ""
    # Only the last path segment: a name is shown to handlers, never used as a path.
    name = re.split(r"[\\/]", cleaned)[-1][:MAX_FILENAME] or None
    major = mime_type.split("/", 1)[0]
    return MailAttachment(
        content=content,
        mime_type=mime_type[:128],
        filename=name,
        kind=major if major in ("image", "audio", "video") else "document",
        sha256=hashlib.sha256(content).hexdigest(),
    )
