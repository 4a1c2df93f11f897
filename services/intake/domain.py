"""Intake's pure rules: references, follow-up tokens, contact normalisation."""

from __future__ import annotations

import hashlib
import re
import secrets
import unicodedata

# Crockford's base32 without I, L, O, U: easy to read aloud and to type on a phone.
_REFERENCE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
REFERENCE_PREFIX = "SND-"
REFERENCE_LENGTH = 5
# What a phone number may be written with; anything else (a Signal username) is not one.
_PHONE_NUMBER = re.compile(r"[\d\s+().\-/]+")


def new_reference() -> str:
    """A short human reference such as SND-7K3Q9 (unique only with the database's help)."""
    # 25 random bits, five base-32 digits: one call to the CSPRNG instead of five.
    n = int.from_bytes(secrets.token_bytes(4), "big") & ((1 << 5 * REFERENCE_LENGTH) - 1)
    digits = [_REFERENCE_ALPHABET[(n >> 5 * i) & 31] for i in range(REFERENCE_LENGTH)]
    return REFERENCE_PREFIX + "".join(digits)


def new_follow_up_token() -> str:
    return secrets.token_urlsafe(24)


def hash_token(token: str) -> str:
    """Follow-up tokens are random and long, so one SHA-256 is enough to store them."""
    return hashlib.sha256(token.encode()).hexdigest()


def normalise_handle(channel: str, handle: str) -> str:
    """The form of a contact handle used for matching: case, spaces and phone punctuation."""
    text = unicodedata.normalize("NFKC", handle).strip().lower()
    if channel in ("whatsapp", "signal", "phone") and _PHONE_NUMBER.fullmatch(text):
        # Arabic-Indic digits (U+0660 to U+0669) write the same number as 0-9.
        digits = "".join(str(unicodedata.decimal(ch)) for ch in text if ch.isdecimal())
        return ("+" + digits) if digits else text
    return text


def field_aad(table: str, column: str, row_id: str) -> bytes:
    """Binds a ciphertext to its row and column, so it cannot be moved to another."""
    return f"sanad:{table}.{column}:{row_id}".encode()
