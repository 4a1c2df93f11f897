"""The contract: every event's schema matches its committed copy, and subjects follow the rules.

A failure here means an event changed shape. If the change is deliberate and
backwards compatible, run `make contract-schemas` and commit the new files; if it
breaks consumers, make a new event type (or schema version) instead.
"""

from __future__ import annotations

import re

import pytest

from shared.contracts import (
    EVENT_TYPES,
    STREAMS,
    SUBJECTS,
    Envelope,
    dlq_subject,
    event_json_schema,
    stream_for,
    subject_of,
)
from tests.contract.schemas_io import SCHEMA_DIR, render, schema_path

SUBJECT = re.compile(r"^sanad\.(?P<producer>[a-z]+)\.(?P<thing>[a-z_]+)\.(?P<verb>[a-z_]+)$")
PRODUCERS = {"intake", "triage", "escalation"}


@pytest.mark.parametrize("event", EVENT_TYPES, ids=subject_of)
def test_the_schema_matches_the_committed_copy(event: type[Envelope]) -> None:
    path = schema_path(subject_of(event))
    assert path.exists(), f"no committed schema for {subject_of(event)}: make contract-schemas"
    assert render(event_json_schema(event)) == path.read_text(encoding="utf-8")


def test_no_committed_schema_is_left_without_its_event() -> None:
    committed = {p.stem for p in SCHEMA_DIR.glob("*.json")}
    assert committed == set(SUBJECTS)


# Past participles that do not end in -ed (product.md names `referral.sent`).
IRREGULAR_PAST = frozenset({"sent"})


@pytest.mark.parametrize("event", EVENT_TYPES, ids=subject_of)
def test_subjects_are_producer_thing_past_tense_verb(event: type[Envelope]) -> None:
    match = SUBJECT.match(subject_of(event))
    assert match, subject_of(event)
    assert match["producer"] in PRODUCERS
    assert match["verb"].endswith("ed") or match["verb"] in IRREGULAR_PAST
    assert event.model_fields["producer"].default == match["producer"]


@pytest.mark.parametrize("event", EVENT_TYPES, ids=subject_of)
def test_every_subject_is_captured_by_exactly_one_stream(event: type[Envelope]) -> None:
    subject = subject_of(event)
    owners = [s for s in STREAMS if any(subject.startswith(p[:-1]) for p in s.subjects)]
    assert owners == [stream_for(subject)]


def test_every_stream_has_explicit_retention_limits() -> None:
    for stream in STREAMS:
        assert stream.max_age.total_seconds() > 0
        assert stream.max_bytes > 0
        assert stream.max_msgs > 0
        assert stream.duplicate_window.total_seconds() > 0


def test_dead_letters_have_their_own_stream() -> None:
    assert stream_for(dlq_subject("triage")).name == "SANAD_DLQ"


@pytest.mark.parametrize("event", EVENT_TYPES, ids=subject_of)
def test_envelopes_carry_the_fields_every_consumer_relies_on(event: type[Envelope]) -> None:
    required = {
        "event_id",
        "type",
        "schema_version",
        "occurred_at",
        "producer",
        "ticket_id",
        "data",
    }
    assert required <= set(event.model_fields)
