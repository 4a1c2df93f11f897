"""An inbound referral (escalation's `referral.received`) opens a ticket here."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from services.intake.config import IntakeSettings
from services.intake.consumers import open_referrals
from services.intake.models import Ticket
from services.intake.referrals import details_aad
from services.intake.tests.conftest import Auth
from shared.app import Runtime
from shared.auth import Scope
from shared.contracts import (
    TLP,
    Category,
    ConsentChanged,
    ConsentPurpose,
    Priority,
    ReferralReceived,
    ReferralReceivedData,
    RequesterRole,
    TicketReceived,
    decode,
)
from shared.crypto import load_or_create_recipient_keys, seal
from shared.messaging.consumer import PermanentError

SUMMARY = "Journalist whose Telegram account was taken over; the attacker posts as her."
CONTACT = "+96170000123"


def referral(
    keys_dir: Path, *, details: dict[str, object] | None = None, sealed: str | None = None
) -> ReferralReceived:
    referral_id = uuid.uuid4()
    public = load_or_create_recipient_keys(keys_dir, "intake-content").public_key
    payload = details or {"summary": SUMMARY, "contact_channel": "signal", "contact": CONTACT}
    return ReferralReceived(
        ticket_id=uuid.uuid4(),
        data=ReferralReceivedData(
            referral_id=referral_id,
            partner_id="partner-helpline",
            category=Category.account_compromise,
            priority=Priority.P2,
            physical_risk=False,
            requester_role=RequesterRole.journalist,
            country="LB",
            languages=("ar", "fr"),
            consents={
                ConsentPurpose.share_with_platforms: True,
                ConsentPurpose.share_with_partners: False,
                ConsentPurpose.anonymous_statistics: True,
            },
            tlp=TLP.amber,
            sealed_details=sealed
            or seal(public, json.dumps(payload), aad=details_aad(referral_id)),
            received_at=datetime.now(UTC),
        ),
    )


async def apply(runtime: Runtime, event: ReferralReceived) -> None:
    spec = open_referrals(runtime)
    async with runtime.writer_sessions() as session, session.begin():
        await spec.handler(session, event)


async def published(runtime: Runtime) -> list[object]:
    async with runtime.sessions() as session:
        rows = (await session.execute(select(runtime.outbox))).all()
    return [decode(r.payload, subject=r.subject) for r in rows]


async def tickets(runtime: Runtime) -> int:
    async with runtime.sessions() as session:
        count = await session.execute(select(func.count()).select_from(Ticket))
    return int(count.scalar_one())


async def test_a_referral_opens_a_vouched_ticket_with_the_consent_it_carries(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings, auth: Auth
) -> None:
    event = referral(settings.keys_dir)
    await apply(runtime, event)

    headers = await auth(Scope.handler)
    ticket = (await client.get(f"/v1/tickets/{event.ticket_id}", headers=headers)).json()
    assert ticket["channel"] == "referral"
    assert ticket["status"] == "new"
    assert [m["text"] for m in ticket["messages"]] == [SUMMARY]
    requester = ticket["requester"]
    assert requester["role"] == "journalist"
    assert requester["country"] == "LB"
    assert requester["vetting_state"] == "vouched_by_partner"
    assert requester["contact"]["channel"] == "signal"
    assert requester["contact"]["handle"] == CONTACT

    consent = (
        await client.get(f"/v1/requesters/{requester['id']}/consent", headers=headers)
    ).json()
    assert consent["consents"] == {
        "share_with_platforms": True,
        "share_with_partners": False,
        "anonymous_statistics": True,
    }
    assert consent["history"][0]["source"] == "referral"
    vetting = (
        await client.get(f"/v1/requesters/{requester['id']}/vetting", headers=headers)
    ).json()
    assert [(h["state"], h["actor_scope"]) for h in vetting["history"]] == [
        ("vouched_by_partner", "partner")
    ]

    events = await published(runtime)
    received = [e for e in events if isinstance(e, TicketReceived)]
    assert [e.ticket_id for e in received] == [event.ticket_id]
    assert received[0].data.channel == "referral"
    assert received[0].data.declared_language == "ar"
    assert SUMMARY not in received[0].model_dump_json()  # sealed for triage
    consents = [e for e in events if isinstance(e, ConsentChanged)]
    assert consents[0].data.consents[ConsentPurpose.share_with_partners] is False


async def test_the_same_referral_twice_opens_one_ticket(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings
) -> None:
    event = referral(settings.keys_dir)
    await apply(runtime, event)
    await apply(runtime, event.model_copy(update={"event_id": uuid.uuid4()}))
    assert await tickets(runtime) == 1


async def test_a_referral_without_a_usable_contact_opens_a_ticket_without_one(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings, auth: Auth
) -> None:
    event = referral(
        settings.keys_dir,
        details={"summary": SUMMARY, "contact_channel": "carrier-pigeon", "contact": "x"},
    )
    await apply(runtime, event)
    headers = await auth(Scope.handler)
    ticket = (await client.get(f"/v1/tickets/{event.ticket_id}", headers=headers)).json()
    assert ticket["requester"]["contact"] is None


@pytest.mark.parametrize(
    "sealed", ["not-sealed", None], ids=["garbage", "sealed-for-another-referral"]
)
async def test_details_that_cannot_be_opened_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, runtime: Runtime, settings: IntakeSettings, sealed: str | None
) -> None:
    other = referral(settings.keys_dir)
    event = referral(settings.keys_dir, sealed=sealed or other.data.sealed_details)
    with pytest.raises(PermanentError) as refused:
        await apply(runtime, event)
    assert SUMMARY not in str(refused.value)
    assert await tickets(runtime) == 0
    assert await published(runtime) == []
