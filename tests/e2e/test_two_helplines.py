"""Two helplines on one machine exchange referrals over HTTP, both ways, and refuse forgeries.

Each helpline is its own escalation service under uvicorn with its own
nats-server, SQLite databases, keys and auth database. Cases reach each
escalation the way they do in production: as events on its bus.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import nats
import pytest

from services.escalation import iodef
from services.escalation.config import EscalationSettings
from services.escalation.signing import SIGNING_KEY_FILE, SigningKey, load_signing_key
from shared.auth import Scope, TokenStore
from shared.contracts import (
    TLP,
    Category,
    ConsentChanged,
    ConsentChangedData,
    ConsentPurpose,
    Envelope,
    Priority,
    RequesterRole,
    encode,
)
from shared.testing.events import ticket_received, ticket_triaged
from shared.testing.stack import Stack, start_stack
from tests.e2e.conftest import eventually

IDS = ("helpline-a", "helpline-b")


def _env(helpline_id: str) -> dict[str, str]:
    return {
        "ESCALATION_HELPLINE_ID": helpline_id,
        "ESCALATION_HELPLINE_NAME": f"Helpline {helpline_id}",
        "ESCALATION_DELIVERY_CHECK_SECONDS": "0.2",
        "ESCALATION_REMINDER_CHECK_SECONDS": "0",
    }


@pytest.fixture(scope="module")
def helplines(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Stack]]:
    started: dict[str, Stack] = {}
    try:
        for helpline_id in IDS:
            var = tmp_path_factory.mktemp(helpline_id)
            started[helpline_id] = start_stack(
                var, services=("escalation",), extra_env=_env(helpline_id)
            )
        a, b = started["helpline-a"], started["helpline-b"]
        _register(a, b, "helpline-b")
        _register(b, a, "helpline-a")
        yield started
    finally:
        for stack in started.values():
            stack.stop()


def _url(stack: Stack, path: str) -> str:
    return f"{stack.url('escalation')}{path}"


def _auth_url(stack: Stack) -> str:
    return f"sqlite+aiosqlite:///{stack.var_dir / 'db' / 'auth.db'}"


async def _partner_token(auth_url: str, partner_id: str) -> str:
    store = TokenStore.from_url(auth_url)
    try:
        _, token = await store.create(
            name=f"partner {partner_id}", scope=Scope.partner, partner_id=partner_id
        )
    finally:
        await store.close()
    return token


def _register(at: Stack, other: Stack, other_id: str) -> None:
    """`at` registers `other`: its endpoint, its public key, and the token `other` issued."""
    key = httpx.get(_url(other, "/v1/referrals/signing-key"), headers=other.auth(Scope.admin))
    assert key.status_code == 200, key.text
    assert key.json()["helpline_id"] == other_id
    me = next(i for i in IDS if i != other_id)
    token = asyncio.run(_partner_token(_auth_url(other), me))
    response = httpx.post(
        _url(at, "/v1/partners"),
        json={
            "id": other_id,
            "name": key.json()["name"],
            "endpoint": _url(other, "/v1/referrals"),
            "public_key": key.json()["public_key"],
            "services": ["account_compromise"],
            "languages": ["ar", "fr"],
            "regions": ["LB", "TN"],
            "token": token,
        },
        headers=at.auth(Scope.coordinator),
    )
    assert response.status_code == 201, response.text


async def _publish(url: str, *events: Envelope) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for event in events:
            await js.publish(
                event.subject, encode(event), headers={"Nats-Msg-Id": str(event.event_id)}
            )
    finally:
        await nc.close()


def _seed_case(stack: Stack) -> uuid.UUID:
    """A ticket received, triaged and consented to sharing with partners, on the bus."""
    received = ticket_received(requester_role=RequesterRole.activist, country="TN")
    assert received.ticket_id is not None
    triaged = ticket_triaged(
        ticket_id=received.ticket_id,
        language="fr",
        requester_role=RequesterRole.activist,
        country="TN",
    )
    consent = ConsentChanged(
        data=ConsentChangedData(
            requester_id=received.data.requester_id,
            consents={
                ConsentPurpose.share_with_partners: True,
                ConsentPurpose.share_with_platforms: False,
                ConsentPurpose.anonymous_statistics: True,
            },
            wording_version="v1",
            source="web",
            changed_at=datetime.now(UTC),
        )
    )
    asyncio.run(_publish(stack.nats_ops_url, received, triaged, consent))
    return received.ticket_id


def _refer(stack: Stack, ticket_id: uuid.UUID, partner_id: str) -> dict[str, Any]:
    def attempt() -> dict[str, Any] | None:
        response = httpx.post(
            _url(stack, "/v1/referrals/outbound"),
            json={
                "ticket_id": str(ticket_id),
                "partner_id": partner_id,
                "summary": "Her Facebook page was taken over; she moved to Tunis",
                "actions_taken": ["Reset the password"],
                "ask": "Please follow up locally",
                "tlp": "TLP:AMBER",
            },
            headers=stack.auth(Scope.handler),
        )
        # 409 while the case's events are still on their way to escalation.
        assert response.status_code in (201, 409), response.text
        return response.json() if response.status_code == 201 else None

    return eventually(attempt)


def _referral(stack: Stack, referral_id: str) -> dict[str, Any] | None:
    response = httpx.get(
        _url(stack, f"/v1/referrals/{referral_id}"), headers=stack.auth(Scope.handler)
    )
    return response.json() if response.status_code == 200 else None


def _state_is(stack: Stack, referral_id: str, state: str) -> dict[str, Any] | None:
    body = _referral(stack, referral_id)
    return body if body is not None and body["state"] == state else None


def _decide(stack: Stack, referral_id: str, state: str) -> None:
    response = httpx.post(
        _url(stack, f"/v1/referrals/{referral_id}/transitions"),
        json={"to": state},
        headers=stack.auth(Scope.handler),
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("sender", "receiver", "decision"), [(0, 1, "accepted"), (1, 0, "declined")]
)
def test_a_referral_crosses_over_and_its_decision_comes_back(
    helplines: dict[str, Stack], sender: int, receiver: int, decision: str
) -> None:
    out, into = helplines[IDS[sender]], helplines[IDS[receiver]]
    ticket_id = _seed_case(out)

    referral_id = _refer(out, ticket_id, IDS[receiver])["id"]

    eventually(lambda: _state_is(out, referral_id, "sent"))
    received = eventually(lambda: _referral(into, referral_id))
    assert (received["direction"], received["partner_id"]) == ("inbound", IDS[sender])
    assert (received["requester_role"], received["country"], received["languages"]) == (
        "activist",
        "TN",
        ["fr"],
    )
    assert received["details"]["actions_taken"] == ["Reset the password"]
    _decide(into, referral_id, decision)
    eventually(lambda: _state_is(out, referral_id, decision))
    _decide(into, referral_id, "closed")
    closed = eventually(lambda: _state_is(out, referral_id, "closed"))
    assert [t["to_state"] for t in closed["transitions"]] == ["pending", "sent", decision, "closed"]


def _counts(stack: Stack) -> tuple[int, int]:
    """Referrals and their recorded moves in the helpline's own database, read beside it.

    (The outbox is not counted: the relay empties it as it publishes.)
    """
    path = stack.var_dir / "db" / "escalation.db"
    with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as db:
        referrals = db.execute("SELECT count(*) FROM referrals").fetchone()[0]
        moves = db.execute("SELECT count(*) FROM referral_transitions").fetchone()[0]
    return int(referrals), int(moves)


def _signed(key: SigningKey, sender: str) -> str:
    now = datetime.now(UTC)
    document = iodef.build_document(
        iodef.OutboundReferral(
            referral_id=uuid.uuid4(),
            helpline_id=sender,
            helpline_name="Helpline A",
            created_at=now,
            tlp=TLP.red,
            category=Category.threats,
            priority=Priority.P1,
            physical_risk=True,
            requester_role=RequesterRole.journalist,
            country=None,
            languages=["ar"],
            consents={ConsentPurpose.share_with_partners: True},
            summary="Threatened after an article",
            ask="Urgent follow-up",
            actions_taken=[],
            escalations=[],
            contact=None,
        ),
        rsit=iodef.load_rsit(),
        generated_at=now,
    )
    return key.sign(document, typ=iodef.JWS_TYPE)


def _post(stack: Stack, jws: str, token: str) -> httpx.Response:
    return httpx.post(
        _url(stack, "/v1/referrals"),
        json={"jws": jws},
        headers={"Authorization": f"Bearer {token}"},
    )


def _slug(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, str(response.json()["type"]).rsplit("/", 1)[1]


def test_tampered_replayed_and_unknown_key_referrals_are_refused_and_nothing_is_stored(
    helplines: dict[str, Stack],
) -> None:
    a, b = helplines["helpline-a"], helplines["helpline-b"]
    # Helpline A's own signing key, as its service generated it under A's var directory.
    a_key = load_signing_key(EscalationSettings(var_dir=a.var_dir))
    assert (a.var_dir / "keys" / SIGNING_KEY_FILE).exists()
    token = asyncio.run(_partner_token(_auth_url(b), "helpline-a"))
    unknown = asyncio.run(_partner_token(_auth_url(b), "helpline-unknown"))
    genuine = _signed(a_key, "helpline-a")
    head, payload, signature = genuine.split(".")
    flipped = payload[:10] + ("A" if payload[10] != "A" else "B") + payload[11:]
    before = _counts(b)

    tampered = _post(b, f"{head}.{flipped}.{signature}", token)
    unknown_key = _post(b, _signed(SigningKey.generate(), "helpline-a"), token)
    unknown_partner = _post(b, genuine, unknown)
    refused_counts = _counts(b)
    first = _post(b, genuine, token)
    stored_counts = _counts(b)
    replayed = _post(b, genuine, token)

    assert _slug(tampered) == (400, "signature-invalid")
    assert _slug(unknown_key) == (400, "signature-invalid")
    assert _slug(unknown_partner) == (403, "partner-not-registered")
    assert tampered.headers["content-type"] == "application/problem+json"
    assert refused_counts == before
    assert first.status_code == 201, first.text
    assert stored_counts == (before[0] + 1, before[1] + 1)
    assert _slug(replayed) == (409, "referral-replayed")
    assert _counts(b) == stored_counts


def test_partner_tokens_read_only_their_own_referrals(helplines: dict[str, Stack]) -> None:
    a, b = helplines["helpline-a"], helplines["helpline-b"]
    own = asyncio.run(_partner_token(_auth_url(b), "helpline-a"))
    other = asyncio.run(_partner_token(_auth_url(b), "helpline-other"))
    a_key = load_signing_key(EscalationSettings(var_dir=a.var_dir))
    assert _post(b, _signed(a_key, "helpline-a"), own).status_code == 201

    mine = httpx.get(_url(b, "/v1/referrals"), headers={"Authorization": f"Bearer {own}"})
    theirs = httpx.get(_url(b, "/v1/referrals"), headers={"Authorization": f"Bearer {other}"})

    assert mine.status_code == 200
    assert {r["partner_id"] for r in mine.json()} == {"helpline-a"}
    assert theirs.json() == []
    some = mine.json()[0]["id"]
    hidden = httpx.get(
        _url(b, f"/v1/referrals/{some}"), headers={"Authorization": f"Bearer {other}"}
    )
    assert hidden.status_code == 404
