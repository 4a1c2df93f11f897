"""Evidence files: their type told by their first bytes, never by what the sender declared."""

from __future__ import annotations

import hashlib

# (MIME type, kind) for what the helpline is sent most: screenshots, documents, voice notes,
# videos. Anything else is kept as application/octet-stream; it is evidence all the same.
UNKNOWN = ("application/octet-stream", "document")
_TEXT_CONTROLS = frozenset(range(0, 32)) - {9, 10, 12, 13}


def sniff(content: bytes) -> tuple[str, str]:
    """The MIME type and kind of `content`, from its magic bytes."""
    head = content[:64]
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "image"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "image"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "image"
    if head.startswith(b"%PDF-"):
        return "application/pdf", "document"
    if head[4:8] == b"ftyp":
        return "video/mp4", "video"
    if head.startswith(b"OggS"):
        # A voice note from WhatsApp or Signal: Opus in Ogg.
        return ("audio/ogg; codecs=opus" if b"OpusHead" in head else "audio/ogg"), "audio"
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        # Office documents (docx, xlsx, odt) are zip archives too; naming which is a guess.
        return "application/zip", "document"
    if _is_text(content[:4096]):
        return "text/plain; charset=utf-8", "document"
    return UNKNOWN


def _is_text(sample: bytes) -> bool:
    if not sample or any(b in _TEXT_CONTROLS for b in sample):
        return False
    try:
        sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # Cut in the middle of a character at the end of the sample: still text.
        return exc.start >= len(sample) - 3
    return True


def sha256(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def safe_filename(name: str | None) -> str | None:
    """The last path component of a declared file name, short and without control characters."""
    if not name:
        return None
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = "".join(ch for ch in base if ch.isprintable()).strip()[:200]
    return cleaned or None
