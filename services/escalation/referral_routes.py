"""Partner registry and referral routes: thin, one service call each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Path, status

from services.escalation import partners, referrals
from services.escalation.deps import (
    ContentKeyDep,
    CoordinatorDep,
    HandlerDep,
    InboxDep,
    PartnerDep,
    ReferralReaderDep,
    RuntimeDep,
    SessionDep,
    SettingsDep,
    SigningKeyDep,
)
from services.escalation.models import (
    InboundReferralBody,
    PartnerCreate,
    PartnerPublic,
    PartnerUpdate,
    ReferralCreate,
    ReferralDetail,
    ReferralPublic,
    ReferralTransitionRequest,
    SigningKeyPublic,
)
from services.escalation.signing import ALGORITHM, public_key_text
from shared.contracts import ReferralDirection

router = APIRouter(prefix="/v1", tags=["referrals"])

PartnerIdPath = Annotated[str, Path(pattern=r"^[a-z][a-z0-9-]{1,63}$")]


def _now() -> datetime:
    return datetime.now(UTC)


# --- the partner registry ------------------------------------------------------------


@router.get("/partners", response_model=list[PartnerPublic])
async def list_partners(session: SessionDep, _: HandlerDep) -> list[PartnerPublic]:
    """The partner helplines, what they cover and their keys; never tokens (handler)."""
    return await partners.list_partners(session=session)


@router.post("/partners", response_model=PartnerPublic, status_code=status.HTTP_201_CREATED)
async def register_partner(
    body: PartnerCreate, session: SessionDep, key: ContentKeyDep, _: CoordinatorDep
) -> PartnerPublic:
    """Register a partner helpline with its public key and the token it issued us (coordinator)."""
    return await partners.register_partner(session=session, key=key, request=body, now=_now())


@router.get("/partners/{partner_id}", response_model=PartnerPublic)
async def read_partner(
    partner_id: PartnerIdPath, session: SessionDep, _: HandlerDep
) -> PartnerPublic:
    """One partner helpline (handler, coordinator)."""
    return await partners.read_partner(session=session, partner_id=partner_id)


@router.patch("/partners/{partner_id}", response_model=PartnerPublic)
async def update_partner(
    partner_id: PartnerIdPath,
    body: PartnerUpdate,
    session: SessionDep,
    key: ContentKeyDep,
    _: CoordinatorDep,
) -> PartnerPublic:
    """Change a partner's endpoint, key, coverage, token or active flag (coordinator)."""
    return await partners.update_partner(
        session=session, key=key, partner_id=partner_id, request=body, now=_now()
    )


# --- referrals --------------------------------------------------------------------------


@router.get("/referrals/signing-key", response_model=SigningKeyPublic)
async def signing_key(
    key: SigningKeyDep, settings: SettingsDep, _: ReferralReaderDep
) -> SigningKeyPublic:
    """This helpline's id and Ed25519 public key, for partners to register (partner, staff)."""
    return SigningKeyPublic(
        helpline_id=settings.helpline_id,
        name=settings.helpline_name,
        algorithm=ALGORITHM,
        public_key=public_key_text(key.public),
        kid=key.kid,
    )


@router.post(
    "/referrals/outbound", response_model=ReferralDetail, status_code=status.HTTP_201_CREATED
)
async def refer(
    body: ReferralCreate, session: SessionDep, key: ContentKeyDep, principal: HandlerDep
) -> ReferralDetail:
    """Refer a ticket to a partner; sent once consent (and approval) allow (handler)."""
    return await referrals.refer(
        session=session, key=key, request=body, actor=principal, now=_now()
    )


@router.post("/referrals", response_model=ReferralPublic, status_code=status.HTTP_201_CREATED)
async def receive_referral(
    body: InboundReferralBody,
    session: SessionDep,
    runtime: RuntimeDep,
    key: ContentKeyDep,
    inbox: InboxDep,
    principal: PartnerDep,
) -> ReferralPublic:
    """A partner's referral: `{"jws": "<compact JWS over a JSON-IODEF document>"}` (partner)."""
    return await referrals.receive(
        session=session,
        outbox=runtime.outbox,
        key=key,
        inbox=inbox,
        token=body.jws,
        actor=principal,
        now=_now(),
    )


@router.get("/referrals", response_model=list[ReferralPublic])
async def list_referrals(
    session: SessionDep,
    principal: ReferralReaderDep,
    ticket_id: uuid.UUID | None = None,
    direction: ReferralDirection | None = None,
) -> list[ReferralPublic]:
    """Referrals without free text; a partner sees only its own (handler, partner)."""
    return await referrals.list_referrals(
        session=session, actor=principal, ticket_id=ticket_id, direction=direction, now=_now()
    )


@router.get("/referrals/{referral_id}", response_model=ReferralDetail | ReferralPublic)
async def read_referral(
    referral_id: uuid.UUID, session: SessionDep, key: ContentKeyDep, principal: ReferralReaderDep
) -> ReferralDetail | ReferralPublic:
    """One referral: in full for staff, without free text for its own partner (others: 404)."""
    return await referrals.read_referral(
        session=session, key=key, referral_id=referral_id, actor=principal, now=_now()
    )


@router.post("/referrals/{referral_id}/approve", response_model=ReferralDetail)
async def approve_referral(
    referral_id: uuid.UUID, session: SessionDep, key: ContentKeyDep, principal: CoordinatorDep
) -> ReferralDetail:
    """Approve a P1 or LGBTQ-targeting referral before it is sent (coordinator)."""
    return await referrals.approve(
        session=session, key=key, referral_id=referral_id, actor=principal, now=_now()
    )


@router.post("/referrals/{referral_id}/transitions", response_model=ReferralDetail)
async def move_referral(
    referral_id: uuid.UUID,
    body: ReferralTransitionRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    key: ContentKeyDep,
    principal: HandlerDep,
) -> ReferralDetail:
    """Withdraw an unsent referral, or accept, decline, close a received one (handler)."""
    return await referrals.move(
        session=session,
        outbox=runtime.outbox,
        key=key,
        referral_id=referral_id,
        request=body,
        actor=principal,
        now=_now(),
    )


@router.post("/referrals/{referral_id}/status", response_model=ReferralPublic)
async def receive_status(
    referral_id: uuid.UUID,
    body: InboundReferralBody,
    session: SessionDep,
    runtime: RuntimeDep,
    inbox: InboxDep,
    principal: PartnerDep,
) -> ReferralPublic:
    """A partner's signed decision on a referral sent to it: `{"jws": ...}` (partner)."""
    return await referrals.receive_status(
        session=session,
        outbox=runtime.outbox,
        inbox=inbox,
        referral_id=referral_id,
        token=body.jws,
        actor=principal,
        now=_now(),
    )
