"""Tickets for cases a partner helpline referred here (escalation's `referral.received`).

Escalation verified the partner's signed referral; what reaches intake is the
case's profile in the clear (role, country, languages, priority) and the
partner's summary and the person's safe contact sealed for intake alone. Intake
opens the ticket under the id escalation chose, with the consent the referral
carries and the vetting `vouched_by_partner`: the partner has already vetted the
person, which is the point of a referral network.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.intake import domain, repository, service
from services.intake.config import IntakeSettings
from services.intake.keys import IntakeKeys
from services.intake.models import (
    ConsentChange,
    Contact,
    ContactChannel,
    Requester,
    TicketCreate,
    VettingChange,
    VettingState,
)
from shared.contracts import (
    Channel,
    ConsentChanged,
    ConsentChangedData,
    ReferralReceived,
)
from shared.crypto import (
    CryptoError,
    RecipientKeyPair,
    load_or_create_recipient_keys,
    open_sealed,
)
from shared.db import table_of
from shared.messaging.consumer import PermanentError
from shared.messaging.outbox import outbox_rows

CONTENT_KEY = "intake-content"
# Consent recorded by the referring helpline, under its own wording: ours never showed.
REFERRAL_WORDING = "referral"
_REFERENCE_TRIES = 8
# As TicketCreate.language accepts them (BCP 47-ish: "ar", "ar-Latn", "fr").
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*")


class ReferralDetails(BaseModel):
    """What escalation sealed for intake: the partner's words and the safe contact."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    summary: str = Field(min_length=1, max_length=20_000)
    contact_channel: str | None = None
    contact: str | None = Field(default=None, max_length=320)


def details_aad(referral_id: uuid.UUID) -> bytes:
    """What binds the sealed details to their referral (escalation seals with the same)."""
    return f"sanad:referral.received:{referral_id}".encode()


def load_content_keys(settings: IntakeSettings) -> RecipientKeyPair:
    """Intake's own sealing key pair: from settings, or in development a file under var/keys/."""
    if settings.content_private_key is not None:
        return RecipientKeyPair.from_private_base64(settings.content_private_key.get_secret_value())
    if settings.require_keys:
        raise CryptoError("INTAKE_CONTENT_PRIVATE_KEY is required")
    return load_or_create_recipient_keys(settings.keys_dir, CONTENT_KEY)


async def open_referred_ticket(
    *,
    session: AsyncSession,
    keys: IntakeKeys,
    content_keys: RecipientKeyPair,
    outbox: Table,
    event: ReferralReceived,
) -> None:
    """Open the ticket of an inbound referral, with its requester, consent and vetting."""
    if event.ticket_id is None:
        raise PermanentError("a referral without the ticket id to open")
    if await repository.get_ticket(session, event.ticket_id) is not None:
        return  # opened already (a replayed event under a new id)
    details = _open(content_keys, event)
    referral = event.data
    data = TicketCreate(
        text=details.summary,
        channel=Channel.referral,
        language=_language(referral.languages),
        requester_role=referral.requester_role,
        country=referral.country,
        contact=_contact(details),
    )
    # A referred person gets no follow-up link: the partner stays their contact.
    rows = service.ticket_rows(
        data,
        keys,
        outbox,
        event.ticket_id,
        await _free_reference(session),
        domain.new_follow_up_token(),
        referral.received_at,
    )
    requester = _requester_of(rows.inserts)
    requester["vetting_state"] = VettingState.vouched_by_partner.value
    requester_id: uuid.UUID = requester["id"]
    consents = dict(referral.consents)
    rows.add(
        table_of(VettingChange),
        {
            "id": uuid.uuid4(),
            "requester_id": requester_id,
            "state": VettingState.vouched_by_partner.value,
            "actor_id": "referral",
            "actor_scope": "partner",
            "note_enc": None,
            "changed_at": referral.received_at,
        },
    )
    rows.add(
        table_of(ConsentChange),
        service.consent_row(
            requester_id,
            consents,
            wording_version=REFERRAL_WORDING,
            source=Channel.referral.value,
            actor_id="referral",
            changed_at=referral.received_at,
        ),
    )
    consent_event = ConsentChanged(
        ticket_id=event.ticket_id,
        occurred_at=referral.received_at,
        data=ConsentChangedData(
            requester_id=requester_id,
            consents=consents,
            wording_version=REFERRAL_WORDING,
            source=Channel.referral.value,
            changed_at=referral.received_at,
        ),
    )
    rows.add(outbox, *outbox_rows([consent_event]))
    await repository.insert_rows(session, rows)


def _open(content_keys: RecipientKeyPair, event: ReferralReceived) -> ReferralDetails:
    try:
        sealed = open_sealed(
            content_keys, event.data.sealed_details, aad=details_aad(event.data.referral_id)
        )
        return ReferralDetails.model_validate_json(sealed)
    except (CryptoError, ValidationError, ValueError):
        # Never the content: it is the person's.
        raise PermanentError("the referral's sealed details cannot be opened") from None


def _language(languages: tuple[str, ...]) -> str | None:
    for language in languages:
        if _LANGUAGE_TAG.fullmatch(language):
            return language
    return None


def _contact(details: ReferralDetails) -> Contact | None:
    """The safe contact, if the partner shared one intake can use."""
    if not details.contact or not details.contact_channel:
        return None
    try:
        return Contact(channel=ContactChannel(details.contact_channel), handle=details.contact)
    except ValueError:
        return None


def _requester_of(inserts: list[tuple[Table, list[dict[str, Any]]]]) -> dict[str, Any]:
    requesters = table_of(Requester)
    for table, values in inserts:
        if table is requesters:
            return values[0]
    raise AssertionError("a referred ticket always has a new requester")


async def _free_reference(session: AsyncSession) -> str:
    for _ in range(_REFERENCE_TRIES):
        reference = domain.new_reference()
        if not await repository.reference_taken(session, reference):
            return reference
    raise RuntimeError("no free ticket reference")
