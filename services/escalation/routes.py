"""Escalation's HTTP routes: thin, one service call each."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from fastapi import APIRouter, status

from services.escalation import service
from services.escalation.deps import (
    ContentKeyDep,
    CoordinatorDep,
    HandlerDep,
    PlatformsDep,
    RuntimeDep,
    SessionDep,
)
from services.escalation.models import (
    EscalationCreate,
    EscalationDetail,
    EscalationPublic,
    TransitionRequest,
)
from services.escalation.platforms import Platform

router = APIRouter(prefix="/v1", tags=["escalation"])


def _now() -> datetime:
    return datetime.now(UTC)


@router.get("/platforms", response_model=list[Platform])
async def list_platforms(platforms: PlatformsDep, _: HandlerDep) -> list[Platform]:
    """The platforms a helpline can escalate to, with what each needs (handler)."""
    return list(platforms.platforms)


@router.post("/escalations", response_model=EscalationDetail, status_code=status.HTTP_201_CREATED)
async def open_escalation(
    body: EscalationCreate,
    session: SessionDep,
    runtime: RuntimeDep,
    platforms: PlatformsDep,
    key: ContentKeyDep,
    principal: HandlerDep,
) -> EscalationDetail:
    """Draft an escalation of a triaged ticket to a platform (handler, coordinator)."""
    return await service.open_escalation(
        session=session,
        outbox=runtime.outbox,
        registry=platforms,
        key=key,
        request=body,
        actor=principal,
        now=_now(),
    )


@router.get("/escalations", response_model=list[EscalationPublic])
async def list_escalations(
    ticket_id: uuid.UUID, session: SessionDep, principal: HandlerDep
) -> list[EscalationPublic]:
    """A ticket's escalations, without content references (handler, coordinator)."""
    return await service.list_escalations(
        session=session, ticket_id=ticket_id, actor=principal, now=_now()
    )


@router.get("/escalations/{escalation_id}", response_model=EscalationDetail)
async def read_escalation(
    escalation_id: uuid.UUID, session: SessionDep, key: ContentKeyDep, principal: HandlerDep
) -> EscalationDetail:
    """One escalation, its content references and every move (handler, coordinator)."""
    return await service.read_escalation(
        session=session, key=key, escalation_id=escalation_id, actor=principal, now=_now()
    )


@router.post("/escalations/{escalation_id}/transitions", response_model=EscalationDetail)
async def move_escalation(
    escalation_id: uuid.UUID,
    body: TransitionRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    platforms: PlatformsDep,
    key: ContentKeyDep,
    principal: HandlerDep,
) -> EscalationDetail:
    """Move an escalation along its states; submitting needs consent (handler, coordinator)."""
    return await service.transition(
        session=session,
        outbox=runtime.outbox,
        registry=platforms,
        key=key,
        escalation_id=escalation_id,
        request=body,
        actor=principal,
        now=_now(),
    )


@router.post("/escalations/{escalation_id}/approve", response_model=EscalationDetail)
async def approve_escalation(
    escalation_id: uuid.UUID,
    session: SessionDep,
    runtime: RuntimeDep,
    key: ContentKeyDep,
    principal: CoordinatorDep,
) -> EscalationDetail:
    """Approve a sensitive escalation before it is submitted (coordinator)."""
    return await service.approve(
        session=session,
        outbox=runtime.outbox,
        key=key,
        escalation_id=escalation_id,
        actor=principal,
        now=_now(),
    )
