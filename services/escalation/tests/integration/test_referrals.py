"""Referrals between two helplines in one process: out, in, status back, and every refusal."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.escalation import delivery, iodef, records
from services.escalation.signing import SigningKey
from services.escalation.tests.helplines import Helpline, consent, seed_case, two_helplines
from shared.auth import Scope
from shared.contracts import (
    TLP,
    Category,
    ConsentPurpose,
    Flag,
    Priority,
    ReferralReceived,
    ReferralSent,
    ReferralUpdated,
    RequesterRole,
)
from shared.crypto import load_or_create_recipient_keys, open_sealed
from shared.db import transaction
from shared.testing.events import requester_erased

SUMMARY = "Canary-summary-7f3a: her Instagram was taken over; the attacker messages her sources"
CONTACT = "+961 70 canary 4411"


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[Helpline, Helpline]]:
    async with two_helplines(tmp_path) as helplines:
        yield helplines


async def refer(a: Helpline, ticket_id: uuid.UUID, **body: Any) -> httpx.Response:
    payload = {
        "ticket_id": str(ticket_id),
        "partner_id": "helpline-b",
        "summary": SUMMARY,
        "actions_taken": ["Secured the recovery email", "Collected screenshots"],
        "ask": "Please take over: she is now in your country",
        "tlp": "TLP:AMBER+STRICT",
        **body,
    }
    return await a.client.post(
        "/v1/referrals/outbound", json=payload, headers=await a.headers(Scope.handler)
    )


async def read(helpline: Helpline, referral_id: str, scope: Scope = Scope.handler) -> Any:
    response = await helpline.client.get(
        f"/v1/referrals/{referral_id}", headers=await helpline.headers(scope)
    )
    assert response.status_code == 200, response.text
    return response.json()


def signed_referral(
    key: SigningKey,
    *,
    sender: str = "helpline-a",
    generated_at: datetime | None = None,
    **over: Any,
) -> tuple[uuid.UUID, str]:
    """A referral document as helpline A would sign it."""
    referral_id = uuid.uuid4()
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "referral_id": referral_id,
        "helpline_id": sender,
        "helpline_name": "Helpline A",
        "created_at": now,
        "tlp": TLP.amber,
        "category": Category.doxxing,
        "priority": Priority.P1,
        "physical_risk": True,
        "requester_role": RequesterRole.hrd,
        "country": "SY",
        "languages": ["ar"],
        "consents": {
            ConsentPurpose.share_with_partners: True,
            ConsentPurpose.share_with_platforms: False,
            ConsentPurpose.anonymous_statistics: False,
        },
        "summary": SUMMARY,
        "ask": "Help",
        "actions_taken": [],
        "escalations": [],
        "contact": None,
        **over,
    }
    document = iodef.build_document(
        iodef.OutboundReferral(**fields), rsit=iodef.load_rsit(), generated_at=generated_at or now
    )
    return referral_id, key.sign(document, typ=iodef.JWS_TYPE)


async def post_referral(b: Helpline, jws: str, token: str) -> httpx.Response:
    return await b.client.post(
        "/v1/referrals", json={"jws": jws}, headers={"Authorization": f"Bearer {token}"}
    )


async def test_a_referral_goes_out_signed_and_comes_back_decided(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, b = pair
    ticket_id, _ = await seed_case(a)

    created = await refer(
        a, ticket_id, share_contact=True, contact_channel="signal", contact=CONTACT
    )
    assert created.status_code == 201, created.text
    referral_id = created.json()["id"]
    assert created.json()["state"] == "pending"
    assert await delivery.deliver_due(a.runtime) == 1

    sent = await read(a, referral_id)
    assert sent["state"] == "sent"
    assert [d["status"] for d in sent["deliveries"]] == ["done"]
    (event,) = [e for e in await a.published() if isinstance(e, ReferralSent)]
    assert (event.ticket_id, event.data.attempts, event.data.tlp) == (
        ticket_id,
        1,
        TLP.amber_strict,
    )
    received = await read(b, referral_id)
    assert (received["direction"], received["state"], received["partner_id"]) == (
        "inbound",
        "sent",
        "helpline-a",
    )
    assert received["category"] == "account_compromise"
    assert (received["requester_role"], received["country"], received["languages"]) == (
        "journalist",
        "LB",
        ["ar"],
    )
    assert received["details"]["summary"] == SUMMARY
    assert received["details"]["contact"] == CONTACT
    assert "Secured the recovery email" in received["details"]["actions_taken"]
    (announced,) = [e for e in await b.published() if isinstance(e, ReferralReceived)]
    assert str(announced.ticket_id) == received["ticket_id"]
    assert announced.data.consents[ConsentPurpose.share_with_partners] is True
    intake_keys = load_or_create_recipient_keys(b.settings.keys_dir, "intake-content")
    sealed = json.loads(
        open_sealed(
            intake_keys,
            announced.data.sealed_details,
            aad=f"sanad:referral.received:{referral_id}".encode(),
        )
    )
    assert sealed == {"summary": SUMMARY, "contact_channel": "signal", "contact": CONTACT}
    for helpline in (a, b):
        assert SUMMARY.encode() not in helpline.files()
        assert CONTACT.encode() not in helpline.files()

    accepted = await b.client.post(
        f"/v1/referrals/{referral_id}/transitions",
        json={"to": "accepted"},
        headers=await b.headers(Scope.handler),
    )
    assert accepted.status_code == 200, accepted.text
    assert await delivery.deliver_due(b.runtime) == 1
    await b.client.post(
        f"/v1/referrals/{referral_id}/transitions",
        json={"to": "closed"},
        headers=await b.headers(Scope.handler),
    )
    assert await delivery.deliver_due(b.runtime) == 1

    assert (await read(a, referral_id))["state"] == "closed"
    moves = [e.data for e in await a.published() if isinstance(e, ReferralUpdated)]
    assert [(m.from_state, m.state, m.actor_id) for m in moves] == [
        ("sent", "accepted", "partner"),
        ("accepted", "closed", "partner"),
    ]


async def test_no_contact_is_sent_unless_the_handler_shares_it(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, b = pair
    ticket_id, _ = await seed_case(a)

    referral_id = (await refer(a, ticket_id, contact_channel="signal", contact=CONTACT)).json()[
        "id"
    ]
    await delivery.deliver_due(a.runtime)

    details = (await read(b, referral_id))["details"]
    assert (details["contact_channel"], details["contact"]) == (None, None)


async def test_nothing_is_referred_without_consent_and_revoking_it_withdraws(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, b = pair
    ticket_id, requester_id = await seed_case(a, partners=False)
    refused = await refer(a, ticket_id)
    await consent(a, requester_id, partners=True)
    referral_id = (await refer(a, ticket_id)).json()["id"]
    await consent(a, requester_id, partners=False)

    assert await delivery.deliver_due(a.runtime) == 0

    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/partner-consent-missing")
    assert (await read(a, referral_id))["state"] == "withdrawn"
    assert (await b.counts())[0] == 0
    (withdrawn,) = [e for e in await a.published() if isinstance(e, ReferralUpdated)]
    assert (withdrawn.data.state, withdrawn.data.actor_id) == ("withdrawn", "escalation")


async def test_an_erased_requester_is_not_referred(pair: tuple[Helpline, Helpline]) -> None:
    a, b = pair
    ticket_id, requester_id = await seed_case(a)
    referral_id = (await refer(a, ticket_id)).json()["id"]
    async with transaction(a.runtime.writer_sessions) as session:
        await records.forget_requester(
            session=session,
            event=requester_erased(requester_id=requester_id, ticket_ids=(ticket_id,)),
        )

    await delivery.deliver_due(a.runtime)

    body = await read(a, referral_id)
    assert (body["state"], body["details"], body["details_erased"]) == ("withdrawn", None, True)
    assert (await b.counts())[0] == 0


@pytest.mark.parametrize(
    ("flags", "priority"), [((Flag.lgbtq_targeting,), Priority.P3), ((), Priority.P1)]
)
async def test_sensitive_referrals_wait_for_a_coordinator(
    pair: tuple[Helpline, Helpline], flags: tuple[Flag, ...], priority: Priority
) -> None:
    a, b = pair
    ticket_id, _ = await seed_case(a, flags=flags, priority=priority)
    referral_id = (await refer(a, ticket_id)).json()["id"]
    approve = f"/v1/referrals/{referral_id}/approve"

    assert await delivery.deliver_due(a.runtime) == 0
    by_handler = await a.client.post(approve, headers=await a.headers(Scope.handler))
    approved = await a.client.post(approve, headers=await a.headers(Scope.coordinator))
    delivered = await delivery.deliver_due(a.runtime)
    late = await a.client.post(approve, headers=await a.headers(Scope.coordinator))

    assert (by_handler.status_code, approved.status_code, late.status_code) == (403, 200, 409)
    assert approved.json()["requires_approval"] is True
    assert delivered == 1
    assert (await read(b, referral_id))["state"] == "sent"


async def test_an_unreachable_partner_is_retried_with_backoff(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, b = pair
    coordinator = await a.headers(Scope.coordinator)
    await a.client.patch(
        "/v1/partners/helpline-b",
        json={"endpoint": "https://nowhere.test/v1/referrals"},
        headers=coordinator,
    )
    ticket_id, _ = await seed_case(a)
    referral_id = (await refer(a, ticket_id)).json()["id"]
    now = datetime.now(UTC)

    assert await delivery.deliver_due(a.runtime, now=now) == 0
    first = (await read(a, referral_id))["deliveries"][0]
    assert await delivery.deliver_due(a.runtime, now=now + timedelta(seconds=29)) == 0
    await a.client.patch(
        "/v1/partners/helpline-b",
        json={"endpoint": f"https://{b.host}/v1/referrals"},
        headers=coordinator,
    )
    assert await delivery.deliver_due(a.runtime, now=now + timedelta(seconds=31)) == 1

    assert (first["status"], first["attempts"], first["last_error"]) == ("due", 1, "ConnectError")
    assert datetime.fromisoformat(first["next_attempt_at"]) == now + timedelta(seconds=30)
    body = await read(a, referral_id)
    assert body["state"] == "sent"
    sent = next(e for e in await a.published() if isinstance(e, ReferralSent))
    assert sent.data.attempts == 2


async def test_a_partner_that_never_answers_is_given_up_on(tmp_path: Path) -> None:
    async with two_helplines(tmp_path) as (a, _b):
        await a.client.patch(
            "/v1/partners/helpline-b",
            json={"endpoint": "https://nowhere.test/v1/referrals"},
            headers=await a.headers(Scope.coordinator),
        )
        ticket_id, _ = await seed_case(a)
        referral_id = (await refer(a, ticket_id)).json()["id"]
        now = datetime.now(UTC)
        for hour in range(a.settings.delivery_max_attempts + 2):
            await delivery.deliver_due(a.runtime, now=now + timedelta(hours=hour))

        (only,) = (await read(a, referral_id))["deliveries"]
        assert (only["status"], only["attempts"]) == ("failed", a.settings.delivery_max_attempts)


async def test_tampered_replayed_stale_and_unknown_referrals_are_refused_and_not_stored(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, b = pair
    key: SigningKey = a.runtime.extras["signing_key"]
    token = await b.partner_token("helpline-a")
    stranger = await b.partner_token("helpline-z")
    referral_id, jws = signed_referral(key)
    head, payload, signature = jws.split(".")
    tampered = ".".join(
        (head, payload[:-4] + ("AAAA" if payload[-4:] != "AAAA" else "BBBB"), signature)
    )
    before = await b.counts()

    results = {
        "tampered": await post_referral(b, tampered, token),
        "garbage": await post_referral(b, "not.a.jws", token),
        "stranger": await post_referral(b, jws, stranger),
        "impostor": await post_referral(b, signed_referral(key, sender="helpline-c")[1], token),
        "stale": await post_referral(
            b, signed_referral(key, generated_at=datetime.now(UTC) - timedelta(hours=1))[1], token
        ),
        "other key": await post_referral(b, signed_referral(SigningKey.generate())[1], token),
        "handler": await b.client.post(
            "/v1/referrals", json={"jws": jws}, headers=await b.headers(Scope.handler)
        ),
    }
    after_refusals = await b.counts()
    first = await post_referral(b, jws, token)
    stored = await b.counts()
    replayed = await post_referral(b, jws, token)

    expected = {
        "tampered": (400, "signature-invalid"),
        "garbage": (400, "malformed-referral"),
        "stranger": (403, "partner-not-registered"),
        "impostor": (403, "partner-mismatch"),
        "stale": (400, "referral-stale"),
        "other key": (400, "signature-invalid"),
        "handler": (403, "forbidden"),
    }
    got = {k: (r.status_code, r.json()["type"].rsplit("/", 1)[1]) for k, r in results.items()}
    assert got == expected
    assert after_refusals == before
    assert first.status_code == 201
    assert first.json()["id"] == str(referral_id)
    assert (replayed.status_code, replayed.json()["type"].rsplit("/", 1)[1]) == (
        409,
        "referral-replayed",
    )
    assert await b.counts() == stored
    assert SUMMARY not in json.dumps([r.json() for r in results.values()])


async def test_partner_tokens_see_only_their_own_referrals(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, b = pair
    ticket_id, _ = await seed_case(a)
    referral_id = (await refer(a, ticket_id)).json()["id"]
    await delivery.deliver_due(a.runtime)
    own = {"Authorization": f"Bearer {await b.partner_token('helpline-a')}"}
    other = {"Authorization": f"Bearer {await b.partner_token('helpline-z')}"}

    listed = await b.client.get("/v1/referrals", headers=own)
    mine = await b.client.get(f"/v1/referrals/{referral_id}", headers=own)
    theirs = await b.client.get(f"/v1/referrals/{referral_id}", headers=other)
    nothing = await b.client.get("/v1/referrals", headers=other)

    assert [r["id"] for r in listed.json()] == [referral_id]
    assert mine.status_code == 200
    assert "details" not in mine.json()
    assert theirs.status_code == 404
    assert nothing.json() == []


async def test_the_partner_registry_validates_and_never_shows_tokens(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, _ = pair
    coordinator = await a.headers(Scope.coordinator)
    good = {
        "id": "helpline-c",
        "name": "Helpline C",
        "endpoint": "https://c.example/v1/referrals",
        "public_key": await a.signing_key(),
        "token": "snd_canary-token-0123456789abcdef",
    }

    created = await a.client.post("/v1/partners", json=good, headers=coordinator)
    again = await a.client.post("/v1/partners", json=good, headers=coordinator)
    bad_key = await a.client.post(
        "/v1/partners", json={**good, "id": "helpline-d", "public_key": "AAAA"}, headers=coordinator
    )
    bad_url = await a.client.post(
        "/v1/partners",
        json={**good, "id": "helpline-e", "endpoint": "ftp://x"},
        headers=coordinator,
    )
    plain_http = await a.client.post(
        "/v1/partners",
        json={**good, "id": "helpline-h", "endpoint": "http://c.example/v1/referrals"},
        headers=coordinator,
    )
    bad_id = await a.client.post(
        "/v1/partners", json={**good, "id": "Helpline F!"}, headers=coordinator
    )
    by_handler = await a.client.post(
        "/v1/partners", json={**good, "id": "helpline-g"}, headers=await a.headers(Scope.handler)
    )
    listed = await a.client.get("/v1/partners", headers=await a.headers(Scope.handler))
    paused = await a.client.patch(
        "/v1/partners/helpline-c", json={"active": False}, headers=coordinator
    )
    missing = await a.client.patch("/v1/partners/helpline-x", json={}, headers=coordinator)

    assert created.status_code == 201
    assert created.json()["has_token"] is True
    assert "token" not in created.json()
    assert again.status_code == 409
    assert [r.status_code for r in (bad_key, bad_url, plain_http, bad_id)] == [422] * 4
    assert by_handler.status_code == 403
    assert {p["id"] for p in listed.json()} == {"helpline-b", "helpline-c"}
    assert paused.json()["active"] is False
    assert missing.status_code == 404
    assert b"canary-token" not in a.files()
    assert b"canary-token" not in listed.content


async def test_a_referral_to_an_unknown_partner_or_untriaged_ticket_is_explained(
    pair: tuple[Helpline, Helpline],
) -> None:
    a, _ = pair
    ticket_id, _ = await seed_case(a)

    unknown = await refer(a, ticket_id, partner_id="helpline-x")
    untriaged = await refer(a, uuid.uuid4())
    no_contact = await refer(a, ticket_id, share_contact=True)

    assert (unknown.status_code, untriaged.status_code, no_contact.status_code) == (422, 409, 422)
