"""Intake's pure rules: references, follow-up tokens, contact normalisation."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import unicodedata
import uuid
from datetime import datetime

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


# A double submit or a platform's retry under a new id: the same text from the same sender
# within this many seconds answers with the ticket already opened.
DUPLICATE_WINDOW_SECONDS = 600


def normalise_text(text: str) -> str:
    """A message's text as compared for duplicates: NFKC, case and runs of spaces ignored."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def field_aad(table: str, column: str, row_id: str) -> bytes:
    """Binds a ciphertext to its row and column, so it cannot be moved to another."""
    return f"sanad:{table}.{column}:{row_id}".encode()


# --- the ticket lifecycle ----------------------------------------------------
# Statuses as strings (the values of shared.contracts.TicketStatus): this module stays pure.
NEW, OPEN, WAITING, RESOLVED, CLOSED = (
    "new",
    "open",
    "waiting_on_requester",
    "resolved",
    "closed",
)
# What a handler may move a ticket to; closing goes through `close` (it needs an outcome).
_HANDLER_MOVES: dict[str, frozenset[str]] = {
    NEW: frozenset({OPEN, WAITING}),
    OPEN: frozenset({WAITING, RESOLVED}),
    WAITING: frozenset({OPEN, RESOLVED}),
    RESOLVED: frozenset({OPEN}),
    CLOSED: frozenset({OPEN}),
}
# A requester who writes again reopens what was waiting on them, resolved or closed.
_REOPENED_BY_REQUESTER = frozenset({WAITING, RESOLVED, CLOSED})


class InvalidTransition(ValueError):
    """A status change the lifecycle does not allow."""

    def __init__(self, current: str, target: str) -> None:
        super().__init__(f"A ticket that is {current} cannot become {target}.")
        self.current, self.target = current, target


def move(current: str, target: str) -> str:
    """The status a handler's move leads to, or InvalidTransition."""
    if target not in _HANDLER_MOVES.get(current, frozenset()):
        raise InvalidTransition(current, target)
    return target


def close(current: str) -> str:
    """Closing (with an outcome) is allowed from every status but closed."""
    if current == CLOSED:
        raise InvalidTransition(current, CLOSED)
    return CLOSED


def after_requester_message(current: str) -> str | None:
    """The status a new message from the requester leads to; None when it stays."""
    return OPEN if current in _REOPENED_BY_REQUESTER else None


def can_reply(current: str) -> bool:
    """A reply to the requester needs the ticket not closed; internal notes always may."""
    return current != CLOSED


# --- consent and vetting -----------------------------------------------------
# Wording ids of the consent texts a person may have agreed to (the form shows the current one).
CONSENT_WORDING_CURRENT = "consent-2026-01"
CONSENT_WORDINGS = frozenset({CONSENT_WORDING_CURRENT})
VETTING_STATES = ("unvetted", "vetting", "vetted", "vouched_by_partner", "declined")


def merged_consent(current: dict[str, bool], changes: dict[str, bool]) -> dict[str, bool]:
    """The whole record after `changes`: purposes not mentioned keep their value."""
    return {**current, **changes}


# --- list cursors ------------------------------------------------------------


class InvalidCursor(ValueError):
    """A cursor this service did not hand out."""


def encode_cursor(received_at: datetime, ticket_id: uuid.UUID) -> str:
    """An opaque position in the (received_at, id) order of the ticket list."""
    raw = json.dumps([received_at.isoformat(), str(ticket_id)], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """The position a cursor stands for, or InvalidCursor."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, ticket_id = json.loads(raw)
        position = datetime.fromisoformat(at), uuid.UUID(ticket_id)
    except (binascii.Error, ValueError, TypeError) as exc:
        raise InvalidCursor("This cursor is not valid.") from exc
    if position[0].tzinfo is None:
        raise InvalidCursor("This cursor is not valid.")
    return position


# --- the public pages --------------------------------------------------------
PAGE_LANGUAGES = ("ar", "fr", "en")
DEFAULT_PAGE_LANGUAGE = "ar"


def pick_language(accept_language: str | None) -> str:
    """The page language an Accept-Language header prefers; Arabic when it names none of ours."""
    best, best_q = DEFAULT_PAGE_LANGUAGE, 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                continue
        if primary in PAGE_LANGUAGES and q > best_q:
            best, best_q = primary, q
    return best


def normalise_reference(text: str) -> str:
    """A reference as a person may type it: any case, spaces, with or without the prefix."""
    compact = "".join(unicodedata.normalize("NFKC", text).split()).upper()
    return compact if compact.startswith(REFERENCE_PREFIX) else REFERENCE_PREFIX + compact


_ARABIC_LETTER = re.compile(r"[\u0600-\u06ff\u0750-\u077f\ufb50-\ufdff\ufe70-\ufeff]")
_FRENCH_HINTS = re.compile(
    r"\b(bonjour|vous|votre|nous|merci|est|les|des|avec|pour|compte|cordialement)\b|[éèêàçù]",
    re.IGNORECASE,
)


def reply_language(declared: str | None, text: str) -> str:
    """The language of a reply's subject: the one the person declared, else the reply's own."""
    primary = (declared or "").split("-")[0].lower()
    if primary in PAGE_LANGUAGES:
        return primary
    arabic = len(_ARABIC_LETTER.findall(text))
    if arabic and arabic * 4 >= sum(ch.isalpha() for ch in text):
        return "ar"
    return "fr" if len(_FRENCH_HINTS.findall(text)) >= 2 else "en"


def retry_delay(attempts: int, *, base: float, cap: float) -> float:
    """Seconds before attempt `attempts + 1`: doubling from `base`, never more than `cap`."""
    return float(min(cap, base * 2 ** max(0, min(attempts - 1, 30))))
