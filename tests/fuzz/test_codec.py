"""The event codec on arbitrary input: a valid event or a ContractError, never anything else."""

from __future__ import annotations

import contextlib
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.contracts import SUBJECTS, ContractError, decode, encode
from shared.testing.events import requester_erased, ticket_received, ticket_triaged

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)
VALID = [json.loads(encode(e)) for e in (ticket_received(), ticket_triaged(), requester_erased())]


def _decodes_or_refuses(raw: bytes, subject: str | None = None) -> None:
    with contextlib.suppress(ContractError):
        decode(raw, subject=subject)


@FUZZ
@given(raw=st.binary(max_size=2048), subject=st.none() | st.sampled_from(SUBJECTS))
def test_arbitrary_bytes(raw: bytes, subject: str | None) -> None:
    _decodes_or_refuses(raw, subject)


@FUZZ
@given(value=json_values)
def test_arbitrary_json(value: Any) -> None:
    _decodes_or_refuses(json.dumps(value).encode())


@FUZZ
@given(
    base=st.sampled_from(VALID),
    path=st.lists(
        st.sampled_from(["data", "type", "event_id", "occurred_at", "ticket_id"]), max_size=2
    ),
    value=json_values,
)
def test_valid_events_with_one_field_replaced(
    base: dict[str, Any], path: list[str], value: Any
) -> None:
    event = json.loads(json.dumps(base))
    target = event
    for key in path[:-1]:
        target = target.setdefault(key, {}) if isinstance(target, dict) else target
    if isinstance(target, dict):
        target[path[-1] if path else "data"] = value
    _decodes_or_refuses(json.dumps(event).encode())


@FUZZ
@given(base=st.sampled_from(VALID), cut=st.integers(min_value=0, max_value=4000))
def test_truncated_events(base: dict[str, Any], cut: int) -> None:
    _decodes_or_refuses(json.dumps(base).encode()[:cut])
