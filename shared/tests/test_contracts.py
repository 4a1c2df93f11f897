"""The event contract: what encodes decodes back, and anything else is a ContractError."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.contracts import (
    ContractError,
    Envelope,
    Flag,
    TicketReceived,
    TicketTriaged,
    decode,
    encode,
)
from shared.testing.events import requester_erased, ticket_received, ticket_triaged

CANARY = "canary-Rima-Khoury-+96170000111"


def as_dict(event: Envelope) -> dict[str, Any]:
    raw: dict[str, Any] = json.loads(encode(event))
    return raw


def raw(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    "event",
    [ticket_received(), ticket_triaged(flags=(Flag.minor, Flag.ongoing)), requester_erased()],
    ids=["ticket.received", "ticket.triaged", "requester.erased"],
)
def test_every_event_decodes_to_what_was_encoded(event: Envelope) -> None:
    decoded = decode(encode(event), subject=event.subject)

    assert decoded == event
    assert type(decoded) is type(event)


def test_an_events_type_is_its_subject() -> None:
    assert ticket_received().subject == "sanad.intake.ticket.received"
    assert ticket_triaged().subject == "sanad.triage.ticket.triaged"


@pytest.mark.parametrize(
    "garbage",
    [b"", b"not json at all", b"\xff\xfe\x00", b"[]", b"{}", b"null", b'{"type": 42}'],
    ids=["empty", "text", "binary", "list", "empty-object", "null", "type-not-a-string"],
)
def test_garbage_is_a_contract_error(garbage: bytes) -> None:
    with pytest.raises(ContractError):
        decode(garbage)


def test_an_unknown_event_type_is_a_contract_error() -> None:
    body = as_dict(ticket_received()) | {"type": "sanad.intake.ticket.exploded"}

    with pytest.raises(ContractError):
        decode(raw(body))


@pytest.mark.parametrize("where", ["envelope", "data"])
def test_an_extra_field_is_a_contract_error(where: str) -> None:
    body = as_dict(ticket_triaged())
    target = body if where == "envelope" else body["data"]
    target["handler_note"] = "an unexpected field"

    with pytest.raises(ContractError):
        decode(raw(body))


def test_a_missing_field_is_a_contract_error() -> None:
    body = as_dict(ticket_triaged())
    del body["data"]["priority"]

    with pytest.raises(ContractError, match="priority"):
        decode(raw(body))


def test_a_payload_of_another_type_is_a_contract_error() -> None:
    body = as_dict(ticket_received())
    body["data"] = as_dict(ticket_triaged())["data"]

    with pytest.raises(ContractError):
        decode(raw(body))


def test_an_event_on_the_wrong_subject_is_a_contract_error() -> None:
    with pytest.raises(ContractError, match="arrived on subject"):
        decode(encode(ticket_received()), subject=TicketTriaged.model_fields["type"].default)


def test_an_event_on_its_own_subject_is_accepted() -> None:
    event = decode(encode(ticket_received()), subject="sanad.intake.ticket.received")

    assert isinstance(event, TicketReceived)


def _with_canary(path: tuple[str, ...], value: object) -> dict[str, Any]:
    body = as_dict(ticket_received())
    target = body
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return body


@pytest.mark.parametrize(
    "body",
    [
        _with_canary(("data", "channel"), CANARY),
        _with_canary(("data", "received_at"), CANARY),
        _with_canary(("data", "requester_id"), CANARY),
        _with_canary(("data", "sealed_text"), [CANARY]),
        _with_canary(("data", "reference"), {"name": CANARY}),
        _with_canary(("ticket_id",), CANARY),
        _with_canary(("type",), CANARY),
        _with_canary(("data", "unexpected"), CANARY),
    ],
    ids=[
        "bad-enum",
        "bad-datetime",
        "bad-uuid",
        "list-for-string",
        "object-for-string",
        "bad-ticket-id",
        "unknown-type",
        "extra-field-value",
    ],
)
def test_a_contract_error_never_quotes_the_input(body: dict[str, Any]) -> None:
    with pytest.raises(ContractError) as caught:
        decode(raw(body))

    assert CANARY not in str(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


def test_a_contract_error_on_unparseable_bytes_never_quotes_them() -> None:
    with pytest.raises(ContractError) as caught:
        decode(b'{"type": "sanad.intake.ticket.received", "data": "' + CANARY.encode())

    assert CANARY not in str(caught.value)
