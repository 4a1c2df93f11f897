"""Referrals between helplines: refer a ticket out, approve, move, receive one in, take updates."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import Table
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import domain, iodef, repository
from services.escalation.case_audit import record_ticket
from services.escalation.errors import (
    AlreadySent,
    ContentUnreadable,
    ImpossibleTransition,
    InvalidReferral,
    MalformedReferral,
    NotTriaged,
    PartnerConsentMissing,
    PartnerMismatch,
    PartnerNotRegistered,
    PartnerUnavailable,
    ReferralNotFound,
    ReferralReplayed,
    ReferralStale,
    ReferralWithoutConsent,
    SignatureInvalid,
)
from services.escalation.keys import (
    TICKET_KEY,
    ContentKey,
    open_referral,
    seal_referral,
    sealing_key,
    ticket_key,
)
from services.escalation.models import (
    DeliveryPublic,
    Partner,
    Referral,
    ReferralCreate,
    ReferralDelivery,
    ReferralDetail,
    ReferralDetails,
    ReferralPublic,
    ReferralTransition,
    ReferralTransitionRequest,
    RequesterConsent,
    TransitionPublicReferral,
)
from services.escalation.partners import partner_key
from services.escalation.signing import SignatureRefused, verify
from shared import audit
from shared.auth import Principal, Scope
from shared.contracts import (
    TLP,
    Category,
    ConsentPurpose,
    Priority,
    ReferralDirection,
    ReferralReceived,
    ReferralReceivedData,
    ReferralSent,
    ReferralSentData,
    ReferralState,
    ReferralUpdated,
    ReferralUpdatedData,
    RequesterRole,
)
from shared.crypto import CryptoError, Sealer
from shared.messaging.outbox import add_to_outbox

OUT, IN = ReferralDirection.outbound, ReferralDirection.inbound
DELIVERY_SCHEDULED = "sanad.escalation.delivery-scheduled"


@dataclass(frozen=True)
class Inbox:
    """What receiving a signed document needs besides the request."""

    validator: iodef.SchemaValidator
    intake_sealer: Sealer
    max_age: timedelta
    skew: timedelta


def consents_of(consent: RequesterConsent) -> dict[ConsentPurpose, bool]:
    return {
        ConsentPurpose.share_with_platforms: consent.share_with_platforms,
        ConsentPurpose.share_with_partners: consent.share_with_partners,
        ConsentPurpose.anonymous_statistics: consent.anonymous_statistics,
    }


async def consent_of_ticket(session: AsyncSession, ticket_id: uuid.UUID) -> RequesterConsent | None:
    link = await repository.get_ticket_requester(session, ticket_id)
    return await repository.get_consent(session, link.requester_id) if link else None


async def refer(
    *,
    session: AsyncSession,
    key: ContentKey,
    request: ReferralCreate,
    actor: Principal,
    now: datetime,
) -> ReferralDetail:
    """Refer a triaged ticket to a partner; it is sent once consent (and approval) allow."""
    partner = await repository.get_partner(session, request.partner_id)
    if partner is None or not partner.active or partner.token_sealed is None:
        raise PartnerUnavailable()
    case = await repository.get_case(session, request.ticket_id)
    if case is None:
        raise NotTriaged()
    consent = await consent_of_ticket(session, request.ticket_id)
    if consent is None or not consent.share_with_partners:
        raise PartnerConsentMissing()
    referral_id = uuid.uuid4()
    data_key = await ticket_key(session, key, request.ticket_id, create=True)
    if data_key is None:
        raise PartnerConsentMissing("The requester has been erased.")
    details = ReferralDetails(
        summary=request.summary,
        ask=request.ask,
        actions_taken=list(request.actions_taken),
        contact_channel=request.contact_channel if request.share_contact else None,
        contact=request.contact if request.share_contact else None,
    )
    row = Referral(
        id=referral_id,
        direction=OUT.value,
        partner_id=partner.id,
        ticket_id=request.ticket_id,
        state=ReferralState.pending.value,
        category=case.category,
        priority=case.priority,
        physical_risk=domain.physical_risk(case.flags),
        requester_role=case.requester_role,
        country=case.country,
        languages=[case.language] if case.language else [],
        consents={k.value: v for k, v in consents_of(consent).items()},
        tlp=request.tlp.value,
        share_contact=request.share_contact,
        details_sealed=seal_referral(data_key, referral_id, details.model_dump_json()),
        details_key_id=TICKET_KEY,
        requires_approval=domain.needs_approval(case.priority, case.flags),
        created_by=actor.token_id,
        created_at=now,
        updated_at=now,
    )
    repository.add(session, row)
    _stamp(session, row, ReferralState.pending, kind="created", actor_id=actor.token_id, at=now)
    if not row.requires_approval:
        schedule(session, row, kind="referral", now=now)
    await record_ticket(session, actor, audit.Action.create, row.ticket_id, now)
    return await _detail(session, row, key)


async def approve(
    *,
    session: AsyncSession,
    key: ContentKey,
    referral_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> ReferralDetail:
    """A coordinator's approval of a sensitive referral not yet sent; sending starts."""
    row = await _get(session, referral_id)
    if row.direction != OUT.value or row.state != ReferralState.pending.value:
        raise AlreadySent()
    if row.approved_at is None:
        row.approved_by, row.approved_at, row.updated_at = actor.token_id, now, now
        _stamp(
            session, row, ReferralState.pending, kind="approved", actor_id=actor.token_id, at=now
        )
        pending = [d for d in await repository.deliveries_of(session, row.id) if d.status == "due"]
        if not pending:
            schedule(session, row, kind="referral", now=now)
        await record_ticket(session, actor, audit.Action.update, row.ticket_id, now)
    return await _detail(session, row, key)


async def list_referrals(
    *,
    session: AsyncSession,
    actor: Principal,
    ticket_id: uuid.UUID | None,
    direction: ReferralDirection | None,
    now: datetime,
) -> list[ReferralPublic]:
    """Referrals without their free text; a partner's token sees only that partner's."""
    partner_id = _partner_scope(actor)
    rows = await repository.list_referrals(
        session,
        ticket_id=ticket_id,
        partner_id=partner_id,
        direction=direction.value if direction else None,
    )
    if ticket_id is not None and partner_id is None:
        await record_ticket(session, actor, audit.Action.read, ticket_id, now)
    return [public(row) for row in rows]


async def read_referral(
    *,
    session: AsyncSession,
    key: ContentKey,
    referral_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> ReferralPublic | ReferralDetail:
    """One referral: for a partner without free text (and only its own), for staff in full."""
    row = await _get(session, referral_id)
    partner_id = _partner_scope(actor)
    if partner_id is not None:
        if row.partner_id != partner_id:
            raise ReferralNotFound()
        return public(row)
    await record_ticket(session, actor, audit.Action.read, row.ticket_id, now)
    return await _detail(session, row, key)


async def move(
    *,
    session: AsyncSession,
    outbox: Table,
    key: ContentKey,
    referral_id: uuid.UUID,
    request: ReferralTransitionRequest,
    actor: Principal,
    now: datetime,
) -> ReferralDetail:
    """Withdraw an outbound referral not yet sent, or accept, decline, close an inbound one."""
    row = await _get(session, referral_id)
    direction, target = ReferralDirection(row.direction), request.to
    if not domain.handler_may_move(direction, target):
        raise ImpossibleTransition(f"a handler cannot move an {direction} referral to {target}")
    await transition(
        session=session, outbox=outbox, row=row, target=target, actor_id=actor.token_id, now=now
    )
    if direction is IN:
        schedule(session, row, kind="status", now=now, report=target)
    else:
        await stop_deliveries(session, row, reason="withdrawn", now=now)
    await record_ticket(session, actor, audit.Action.update, row.ticket_id, now)
    return await _detail(session, row, key)


async def transition(
    *,
    session: AsyncSession,
    outbox: Table,
    row: Referral,
    target: ReferralState,
    actor_id: str,
    now: datetime,
    event_actor: str | None = None,
) -> ReferralState:
    """Move `row` to `target`, stamped and announced; returns the state it left."""
    current = ReferralState(row.state)
    try:
        domain.check_referral_transition(current, target)
    except domain.TransitionRefused as exc:
        raise ImpossibleTransition(str(exc)) from None
    row.state, row.updated_at = target.value, now
    _stamp(session, row, current, kind="transition", actor_id=actor_id, at=now)
    await add_to_outbox(
        session,
        outbox,
        ReferralUpdated(
            ticket_id=row.ticket_id,
            occurred_at=now,
            data=ReferralUpdatedData(
                referral_id=row.id,
                partner_id=row.partner_id,
                direction=ReferralDirection(row.direction),
                from_state=current,
                state=target,
                actor_id=event_actor or actor_id,
                changed_at=now,
            ),
        ),
    )
    return current


async def mark_sent(
    *, session: AsyncSession, outbox: Table, row: Referral, attempts: int, now: datetime
) -> None:
    """The partner acknowledged receipt: pending -> sent, announced as `referral.sent`."""
    current = ReferralState(row.state)
    domain.check_referral_transition(current, ReferralState.sent)
    row.state, row.sent_at, row.updated_at = ReferralState.sent.value, now, now
    _stamp(session, row, current, kind="acknowledged", actor_id=f"partner:{row.partner_id}", at=now)
    await add_to_outbox(
        session,
        outbox,
        ReferralSent(
            ticket_id=row.ticket_id,
            occurred_at=now,
            data=ReferralSentData(
                referral_id=row.id,
                partner_id=row.partner_id,
                category=Category(row.category),
                priority=Priority(row.priority),
                tlp=TLP(row.tlp),
                attempts=max(attempts, 1),
                created_at=row.created_at,
                sent_at=now,
            ),
        ),
    )


def schedule(
    session: AsyncSession,
    row: Referral,
    *,
    kind: str,
    now: datetime,
    report: ReferralState | None = None,
) -> None:
    """Queue a delivery to the partner: the referral itself, or a status update."""
    # The delivery job is woken once this commits (delivery.py).
    session.info[DELIVERY_SCHEDULED] = True
    repository.add(
        session,
        ReferralDelivery(
            referral_id=row.id,
            kind=kind,
            report_state=report.value if report else None,
            report_changed_at=now if report else None,
            status="due",
            next_attempt_at=now,
            created_at=now,
        ),
    )


async def stop_deliveries(
    session: AsyncSession, row: Referral, *, reason: str, now: datetime
) -> None:
    for delivery in await repository.deliveries_of(session, row.id):
        if delivery.status == "due" and delivery.kind == "referral":
            delivery.status, delivery.last_error, delivery.finished_at = "failed", reason, now


# --- inbound ----------------------------------------------------------------------


async def receive(
    *,
    session: AsyncSession,
    outbox: Table,
    key: ContentKey,
    inbox: Inbox,
    token: str,
    actor: Principal,
    now: datetime,
) -> ReferralPublic:
    """A partner's signed referral, checked, stored and announced; nothing is kept if refused."""
    partner = await _sending_partner(session, actor)
    doc = read_signed_referral(token, partner_key(partner), inbox.validator)
    if doc.sender != partner.id:
        raise PartnerMismatch()
    if not domain.within_window(doc.generated_at, now, max_age=inbox.max_age, skew=inbox.skew):
        raise ReferralStale()
    if await repository.get_referral(session, doc.referral_id) is not None:
        raise ReferralReplayed()
    if not doc.consents.get(ConsentPurpose.share_with_partners, False):
        raise ReferralWithoutConsent()
    details = ReferralDetails(
        summary=doc.summary,
        ask=doc.ask,
        actions_taken=list(doc.actions_taken),
        contact_channel=doc.contact.channel if doc.contact else None,
        contact=doc.contact.contact if doc.contact else None,
    )
    ticket_id = uuid.uuid4()
    data_key = await ticket_key(session, key, ticket_id, create=True)
    assert data_key is not None  # a new ticket has no erased key
    row = Referral(
        id=doc.referral_id,
        direction=IN.value,
        partner_id=partner.id,
        ticket_id=ticket_id,
        state=ReferralState.sent.value,
        category=doc.category.value,
        priority=doc.priority.value,
        physical_risk=doc.physical_risk,
        requester_role=doc.requester_role.value,
        country=doc.country,
        languages=list(doc.languages),
        consents={k.value: v for k, v in doc.consents.items()},
        tlp=doc.tlp.value,
        share_contact=doc.contact is not None,
        details_sealed=seal_referral(data_key, doc.referral_id, details.model_dump_json()),
        details_key_id=TICKET_KEY,
        created_by=f"partner:{partner.id}",
        created_at=doc.created_at or now,
        sent_at=now,
        updated_at=now,
    )
    repository.add(session, row)
    _stamp(
        session, row, ReferralState.sent, kind="received", actor_id=f"partner:{partner.id}", at=now
    )
    try:
        await session.flush()
    except IntegrityError:
        raise ReferralReplayed() from None
    sealed = inbox.intake_sealer.seal(
        json.dumps(
            {
                "summary": details.summary,
                "contact_channel": details.contact_channel,
                "contact": details.contact,
            }
        ),
        aad=f"sanad:referral.received:{row.id}".encode(),
    )
    await add_to_outbox(
        session,
        outbox,
        ReferralReceived(
            ticket_id=ticket_id,
            occurred_at=now,
            data=ReferralReceivedData(
                referral_id=row.id,
                partner_id=partner.id,
                category=doc.category,
                priority=doc.priority,
                physical_risk=doc.physical_risk,
                requester_role=doc.requester_role,
                country=doc.country,
                languages=doc.languages,
                consents=dict(doc.consents),
                tlp=doc.tlp,
                sealed_details=sealed,
                received_at=now,
            ),
        ),
    )
    return public(row)


async def receive_status(
    *,
    session: AsyncSession,
    outbox: Table,
    inbox: Inbox,
    referral_id: uuid.UUID,
    token: str,
    actor: Principal,
    now: datetime,
) -> ReferralPublic:
    """A partner's signed decision on a referral this helpline sent it."""
    partner = await _sending_partner(session, actor)
    update = read_signed_status(token, partner_key(partner))
    if update.helpline != partner.id:
        raise PartnerMismatch()
    if update.referral_id != referral_id:
        raise InvalidReferral("The status update is for another referral than the URL names.")
    if not domain.within_window(update.generated_at, now, max_age=inbox.max_age, skew=inbox.skew):
        raise ReferralStale()
    row = await repository.get_referral(session, referral_id)
    if row is None or row.partner_id != partner.id or row.direction != OUT.value:
        raise ReferralNotFound()
    target = ReferralState(update.state)
    if row.state == target.value:
        return public(row)  # a retry of an update already applied
    if row.state == ReferralState.pending.value:
        # The partner decided before this helpline saw its acknowledgement: it did receive it.
        deliveries = await repository.deliveries_of(session, row.id)
        attempts = sum(d.attempts for d in deliveries if d.kind == "referral")
        await mark_sent(session=session, outbox=outbox, row=row, attempts=attempts, now=now)
        await stop_deliveries(session, row, reason="acknowledged", now=now)
    await transition(
        session=session,
        outbox=outbox,
        row=row,
        target=target,
        actor_id=f"partner:{partner.id}",
        event_actor="partner",
        now=now,
    )
    return public(row)


async def _sending_partner(session: AsyncSession, actor: Principal) -> Partner:
    partner = await repository.get_partner(session, actor.partner_id) if actor.partner_id else None
    if partner is None or not partner.active:
        raise PartnerNotRegistered()
    return partner


def read_signed_referral(
    token: str, key: Ed25519PublicKey, validator: iodef.SchemaValidator
) -> iodef.InboundReferral:
    """The referral in a compact JWS signed by `key`; any defect raises a ReferralRefused (4xx)."""
    return iodef.parse_document(_verified(token, key, typ=iodef.JWS_TYPE), validator)


def read_signed_status(token: str, key: Ed25519PublicKey) -> iodef.StatusUpdate:
    """The status update in a compact JWS signed by `key`; defects raise a ReferralRefused."""
    return iodef.parse_status(_verified(token, key, typ=iodef.STATUS_JWS_TYPE))


def _verified(token: str, key: Ed25519PublicKey, *, typ: str) -> bytes:
    try:
        return verify(token, key, typ=typ)
    except SignatureRefused as exc:
        if exc.malformed:
            raise MalformedReferral(str(exc).capitalize() + ".") from None
        raise SignatureInvalid() from None


# --- helpers ----------------------------------------------------------------------


def _partner_scope(actor: Principal) -> str | None:
    """The partner a token is confined to (None: staff); one without a partner id sees nothing."""
    if actor.scope is Scope.partner:
        return actor.partner_id or "\x00none"
    return None


async def _get(session: AsyncSession, referral_id: uuid.UUID) -> Referral:
    row = await repository.get_referral(session, referral_id)
    if row is None:
        raise ReferralNotFound()
    return row


def _stamp(
    session: AsyncSession,
    row: Referral,
    from_state: ReferralState,
    *,
    kind: str,
    actor_id: str,
    at: datetime,
) -> None:
    repository.add(
        session,
        ReferralTransition(
            referral_id=row.id,
            from_state=from_state.value,
            to_state=row.state,
            kind=kind,
            actor_id=actor_id,
            at=at,
        ),
    )


async def details_of(
    session: AsyncSession, row: Referral, key: ContentKey
) -> ReferralDetails | None:
    """The referral's free text, or None once erased."""
    if row.details_sealed is None:
        return None
    try:
        data_key = await sealing_key(session, key, row.ticket_id, row.details_key_id)
    except KeyError:
        raise ContentUnreadable() from None
    if data_key is None:
        return None
    try:
        text = open_referral(data_key, row.id, row.details_sealed)
    except CryptoError:
        raise ContentUnreadable() from None
    return ReferralDetails.model_validate_json(text)


def public(row: Referral) -> ReferralPublic:
    return ReferralPublic(
        id=row.id,
        direction=ReferralDirection(row.direction),
        partner_id=row.partner_id,
        ticket_id=row.ticket_id,
        state=ReferralState(row.state),
        category=Category(row.category),
        priority=Priority(row.priority),
        physical_risk=row.physical_risk,
        requester_role=RequesterRole(row.requester_role),
        country=row.country,
        languages=list(row.languages),
        tlp=TLP(row.tlp),
        requires_approval=row.requires_approval,
        approved_at=row.approved_at,
        created_at=row.created_at,
        sent_at=row.sent_at,
        updated_at=row.updated_at,
        details_erased=row.details_erased_at is not None,
    )


async def _detail(session: AsyncSession, row: Referral, key: ContentKey) -> ReferralDetail:
    moves: Sequence[ReferralTransition] = await repository.referral_transitions_of(session, row.id)
    deliveries = await repository.deliveries_of(session, row.id)
    return ReferralDetail(
        **public(row).model_dump(),
        details=await details_of(session, row, key),
        consents={ConsentPurpose(k): v for k, v in row.consents.items()},
        share_contact=row.share_contact,
        approved_by=row.approved_by,
        created_by=row.created_by,
        transitions=[
            TransitionPublicReferral(
                from_state=ReferralState(m.from_state),
                to_state=ReferralState(m.to_state),
                kind=m.kind,
                actor_id=m.actor_id,
                at=m.at,
            )
            for m in moves
        ],
        deliveries=[
            DeliveryPublic(
                kind=d.kind,
                report_state=ReferralState(d.report_state) if d.report_state else None,
                status=d.status,
                attempts=d.attempts,
                next_attempt_at=d.next_attempt_at,
                last_http_status=d.last_http_status,
                last_error=d.last_error,
            )
            for d in deliveries
        ],
    )
