"""The inbound referral parser on arbitrary input: a referral or a clean 4xx refusal, nothing else.

Input reaches the parser in three depths: any text (refused before the signature
is checked), JWS-shaped text (refused at the signature), and properly signed
payloads of any JSON (refused by the schema or the strict model). Valid
documents survive a round trip unchanged.
"""

from __future__ import annotations

import base64
import functools
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from services.escalation import iodef
from services.escalation.errors import ReferralRefused
from services.escalation.referrals import read_signed_referral, read_signed_status
from services.escalation.signing import SigningKey
from shared.contracts import TLP, Category, ConsentPurpose, Priority, RequesterRole

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=30,
)


@functools.cache
def _key() -> SigningKey:
    return SigningKey.generate()


@functools.cache
def _validator() -> iodef.SchemaValidator:
    return iodef.load_validator()


@functools.cache
def _rsit() -> iodef.Rsit:
    return iodef.load_rsit()


def _refused_cleanly(token: str) -> iodef.InboundReferral | None:
    refusal: ReferralRefused | None = None
    try:
        return read_signed_referral(token, _key().public, _validator())
    except ReferralRefused as exc:
        refusal = exc
    assert 400 <= refusal.status < 500
    assert refusal.detail
    return None


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign_raw(payload: bytes, header: dict[str, Any] | None = None) -> str:
    """`payload` as it is, signed (so only the parser behind the signature judges it)."""
    head = _b64(json.dumps(header or {"alg": "Ed25519", "typ": iodef.JWS_TYPE}).encode())
    body = _b64(payload)
    signature = _key().private.sign(f"{head}.{body}".encode())
    return f"{head}.{body}.{_b64(signature)}"


def _valid(**over: Any) -> iodef.OutboundReferral:
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "referral_id": uuid.uuid4(),
        "helpline_id": "helpline-a",
        "helpline_name": "Helpline A",
        "created_at": now - timedelta(hours=1),
        "tlp": TLP.amber,
        "category": Category.impersonation,
        "priority": Priority.P2,
        "physical_risk": False,
        "requester_role": RequesterRole.lgbtq,
        "country": "JO",
        "languages": ["ar", "en"],
        "consents": {ConsentPurpose.share_with_partners: True},
        "summary": "A fake profile in her name",
        "ask": "Ask the platform to remove it",
        "actions_taken": ["Reported it"],
        "escalations": [],
        "contact": ("signal", "+962 7 0000"),
        **over,
    }
    return iodef.OutboundReferral(**fields)


def _document(referral: iodef.OutboundReferral) -> dict[str, Any]:
    return iodef.build_document(referral, rsit=_rsit(), generated_at=datetime.now(UTC))


@FUZZ
@given(text=st.text(max_size=300))
def test_arbitrary_text(text: str) -> None:
    assert _refused_cleanly(text) is None


@FUZZ
@given(
    parts=st.lists(
        st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/", max_size=60),
        min_size=1,
        max_size=5,
    )
)
def test_jws_shaped_text(parts: list[str]) -> None:
    assert _refused_cleanly(".".join(parts)) is None


@FUZZ
@given(
    header=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    payload=st.binary(max_size=200),
)
def test_arbitrary_headers_and_payload_bytes(header: dict[str, Any], payload: bytes) -> None:
    _refused_cleanly(_sign_raw(payload, header))
    _refused_cleanly(_sign_raw(payload))


@FUZZ
@given(value=json_values)
def test_signed_arbitrary_json(value: Any) -> None:
    assert _refused_cleanly(_sign_raw(json.dumps(value).encode())) is None


_PATHS = [
    (),
    ("Incident",),
    ("Incident", 0),
    ("Incident", 0, "IncidentID"),
    ("Incident", 0, "IncidentID", "id"),
    ("Incident", 0, "IncidentID", "name"),
    ("Incident", 0, "GenerationTime"),
    ("Incident", 0, "restriction"),
    ("Incident", 0, "ext-restriction"),
    ("Incident", 0, "Description"),
    ("Incident", 0, "Assessment", 0, "IncidentCategory"),
    ("Incident", 0, "Assessment", 0, "AdditionalData", 0, "value"),
    ("Incident", 0, "Assessment", 0, "AdditionalData", 1, "value"),
    ("Incident", 0, "Contact", 1, "AdditionalData"),
    ("Incident", 0, "Contact", 1, "AdditionalData", 1, "value"),
    ("Incident", 0, "Contact", 1, "AdditionalData", 2, "value"),
    ("Incident", 0, "Contact", 1, "AdditionalData", 4, "value"),
    ("Incident", 0, "History", "HistoryItem"),
    ("Incident", 0, "EventData", 0, "Expectation"),
]


@FUZZ
@given(path=st.sampled_from(_PATHS), value=json_values | st.text(max_size=20_000))
def test_signed_valid_documents_with_one_part_replaced(path: tuple[Any, ...], value: Any) -> None:
    document: Any = _document(_valid())
    if not path:
        document = value
    else:
        here = document
        for step in path[:-1]:
            here = here[step]
        here[path[-1]] = value
    _refused_cleanly(_sign_raw(json.dumps(document).encode()))


@FUZZ
@given(
    category=st.sampled_from(list(Category)),
    priority=st.sampled_from(list(Priority)),
    tlp=st.sampled_from(list(TLP)),
    role=st.sampled_from(list(RequesterRole)),
    physical=st.booleans(),
    summary=st.text(min_size=1, max_size=500).filter(str.strip),
    actions=st.lists(st.text(max_size=100), max_size=5),
    contact=st.none()
    | st.tuples(st.sampled_from(["signal", "email"]), st.text(min_size=1, max_size=50)),
    country=st.none() | st.sampled_from(["LB", "TN", "SY"]),
)
def test_valid_documents_round_trip(
    category: Category,
    priority: Priority,
    tlp: TLP,
    role: RequesterRole,
    physical: bool,
    summary: str,
    actions: list[str],
    contact: tuple[str, str] | None,
    country: str | None,
) -> None:
    sent = _valid(
        category=category,
        priority=priority,
        tlp=tlp,
        requester_role=role,
        physical_risk=physical,
        summary=summary,
        actions_taken=actions,
        contact=contact,
        country=country,
    )

    got = read_signed_referral(
        _key().sign(_document(sent), typ=iodef.JWS_TYPE), _key().public, _validator()
    )

    assert (got.referral_id, got.sender, got.tlp) == (sent.referral_id, "helpline-a", tlp)
    assert (got.category, got.priority, got.physical_risk) == (category, priority, physical)
    assert (got.requester_role, got.country, got.languages) == (role, country, ("ar", "en"))
    assert (got.summary, got.actions_taken) == (summary, tuple(actions))
    assert ((got.contact.channel, got.contact.contact) if got.contact else None) == contact


@FUZZ
@given(value=json_values)
def test_status_updates_on_arbitrary_json(value: Any) -> None:
    status = 200
    try:
        read_signed_status(
            _sign_raw(json.dumps(value).encode(), {"alg": "Ed25519", "typ": iodef.STATUS_JWS_TYPE}),
            _key().public,
        )
    except ReferralRefused as exc:
        status = exc.status
    assert status in (200, 422)
