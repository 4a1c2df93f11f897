"""Evidence typed by its first bytes, whatever it was called or declared as."""

from __future__ import annotations

import pytest

from services.intake import evidence

CASES = [
    (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00", "image/jpeg", "image"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png", "image"),
    (b"GIF89a\x01\x00\x01\x00", "image/gif", "image"),
    (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp", "image"),
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3", "application/pdf", "document"),
    (b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00", "video/mp4", "video"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"\x13OpusHead", "audio/ogg; codecs=opus", "audio"),
    (b"OggS\x00\x02" + b"\x00" * 22 + b"\x01vorbis", "audio/ogg", "audio"),
    (b"PK\x03\x04\x14\x00\x06\x00[Content_Types].xml", "application/zip", "document"),
    ("وصلتني رسالة تهديد\n".encode(), "text/plain; charset=utf-8", "document"),
    (b"MZ\x90\x00\x03\x00\x00\x00", "application/octet-stream", "document"),
    (b"", "application/octet-stream", "document"),
]


@pytest.mark.parametrize(("content", "mime", "kind"), CASES)
def test_the_type_comes_from_the_content(content: bytes, mime: str, kind: str) -> None:
    assert evidence.sniff(content) == (mime, kind)


def test_text_cut_inside_a_character_at_the_sample_edge_is_still_text() -> None:
    # 4095 bytes, then a two-byte letter the 4096-byte sample cuts in half.
    content = "ا".encode() * 2047 + b"a" + "ب".encode()
    assert evidence.sniff(content)[0].startswith("text/plain")
    assert evidence.sniff(b"abc\x00def")[0] == "application/octet-stream"


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\تهديد.png", "تهديد.png"),
        ("a\x00b\nc.txt", "abc.txt"),
        ("", None),
        (None, None),
        ("/", None),
    ],
)
def test_a_declared_name_keeps_only_its_last_part(name: str | None, safe: str | None) -> None:
    assert evidence.safe_filename(name) == safe
