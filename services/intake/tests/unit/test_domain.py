"""Intake's rules: references, follow-up tokens, contact handles, field binding."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime

import pytest

from services.intake.domain import (
    InvalidCursor,
    InvalidTransition,
    after_requester_message,
    close,
    decode_cursor,
    encode_cursor,
    field_aad,
    hash_token,
    merged_consent,
    move,
    new_follow_up_token,
    new_reference,
    normalise_handle,
)

# Crockford base32: digits and letters without I, L, O, U.
REFERENCE = re.compile(r"SND-[0-9A-HJKMNP-TV-Z]{5}")
ARABIC_INDIC_ZERO, FULL_WIDTH_ZERO = 0x0660, 0xFF10


def written_with(zero: int, number: str) -> str:
    """`number` with its digits written in another script, e.g. Arabic-Indic."""
    return "".join(chr(zero + int(ch)) if ch.isdigit() else ch for ch in number)


def test_a_reference_is_snd_and_five_crockford_characters() -> None:
    for _ in range(500):
        assert REFERENCE.fullmatch(new_reference())


def test_references_are_random() -> None:
    references = {new_reference() for _ in range(300)}

    # 32**5 possibilities: a repeat among 300 draws is a one-in-700 event at most.
    assert len(references) >= 299


def test_follow_up_tokens_are_long_and_random() -> None:
    tokens = {new_follow_up_token() for _ in range(100)}

    assert len(tokens) == 100
    assert all(len(t) >= 32 for t in tokens)


def test_hash_token_is_stable_and_hides_the_token() -> None:
    token = new_follow_up_token()

    assert hash_token(token) == hash_token(token)
    assert re.fullmatch(r"[0-9a-f]{64}", hash_token(token))
    assert token not in hash_token(token)


def test_different_tokens_hash_differently() -> None:
    assert hash_token("token-one") != hash_token("token-two")


@pytest.mark.parametrize(
    ("channel", "handle", "normalised"),
    [
        ("whatsapp", "+961 70 123-456", "+96170123456"),
        ("signal", " (+212) 6.12.34.56.78 ", "+212612345678"),
        ("whatsapp", written_with(ARABIC_INDIC_ZERO, "+961 70 123 456"), "+96170123456"),
        ("phone", written_with(FULL_WIDTH_ZERO, "+96170123456"), "+96170123456"),
    ],
    ids=[
        "spaces-and-dashes",
        "brackets-and-dots",
        "arabic-indic-digits",
        "full-width-digits",
    ],
)
def test_phone_like_handles_keep_their_digits_behind_a_plus(
    channel: str, handle: str, normalised: str
) -> None:
    assert normalise_handle(channel, handle) == normalised


@pytest.mark.parametrize(
    ("channel", "handle", "normalised"),
    [("signal", "Nour.42", "nour.42"), ("whatsapp", "Sami.07", "sami.07")],
)
def test_a_username_on_a_phone_like_channel_is_not_read_as_a_number(
    channel: str, handle: str, normalised: str
) -> None:
    # Signal usernames end in two digits: reading them as numbers would merge people.
    assert normalise_handle(channel, handle) == normalised


@pytest.mark.parametrize("channel", ["email", "telegram", "other"])
def test_other_handles_are_trimmed_and_lower_cased(channel: str) -> None:
    assert normalise_handle(channel, "  Layla.Haddad@Example.ORG ") == "layla.haddad@example.org"


def test_field_aad_binds_table_column_and_row() -> None:
    aad = field_aad("requesters", "name", "row-1")

    assert aad == b"sanad:requesters.name:row-1"
    assert aad != field_aad("requesters", "name", "row-2")
    assert aad != field_aad("requesters", "contact_handle", "row-1")
    assert aad != field_aad("messages", "name", "row-1")


# --- the lifecycle ------------------------------------------------------------

LIFECYCLE = ("new", "open", "waiting_on_requester", "resolved", "closed")


@pytest.mark.parametrize(
    ("current", "target"),
    [
        ("new", "open"),
        ("new", "waiting_on_requester"),
        ("open", "waiting_on_requester"),
        ("open", "resolved"),
        ("waiting_on_requester", "open"),
        ("waiting_on_requester", "resolved"),
        ("resolved", "open"),
        ("closed", "open"),
    ],
)
def test_a_handler_moves_a_ticket_along_its_lifecycle(current: str, target: str) -> None:
    assert move(current, target) == target


def test_every_other_move_is_refused_and_closing_needs_close() -> None:
    allowed = {
        ("new", "open"),
        ("new", "waiting_on_requester"),
        ("open", "waiting_on_requester"),
        ("open", "resolved"),
        ("waiting_on_requester", "open"),
        ("waiting_on_requester", "resolved"),
        ("resolved", "open"),
        ("closed", "open"),
    }
    for current in LIFECYCLE:
        for target in LIFECYCLE:
            if (current, target) in allowed:
                continue
            with pytest.raises(InvalidTransition):
                move(current, target)


def test_anything_but_a_closed_ticket_can_be_closed() -> None:
    for current in LIFECYCLE[:-1]:
        assert close(current) == "closed"
    with pytest.raises(InvalidTransition):
        close("closed")


def test_a_requester_message_reopens_what_waited_was_resolved_or_closed() -> None:
    assert [after_requester_message(s) for s in LIFECYCLE] == [None, None, "open", "open", "open"]


# --- cursors ------------------------------------------------------------------


def test_a_cursor_round_trips_and_rejects_what_it_did_not_make() -> None:
    at, ticket_id = datetime(2026, 5, 1, 12, 30, tzinfo=UTC), uuid.uuid4()

    assert decode_cursor(encode_cursor(at, ticket_id)) == (at, ticket_id)
    for bad in ("", "%%%", "W10", "WyJ4IiwieSJd", encode_cursor(at, ticket_id)[:-3]):
        with pytest.raises(InvalidCursor):
            decode_cursor(bad)


def test_a_consent_change_keeps_the_purposes_it_does_not_mention() -> None:
    current = {"a": True, "b": False}

    assert merged_consent(current, {"b": True}) == {"a": True, "b": True}
