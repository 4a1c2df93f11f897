"""Intake's HTTP routes: thin, one service call each."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, status

from services.intake import service
from services.intake.deps import CoordinatorDep, HandlerDep, KeysDep, RuntimeDep, SessionDep
from services.intake.models import ErasureReceipt, TicketAccepted, TicketCreate, TicketPublic

router = APIRouter(prefix="/v1", tags=["tickets"])


@router.post("/tickets", status_code=status.HTTP_202_ACCEPTED, response_model=TicketAccepted)
async def create_ticket(body: TicketCreate, runtime: RuntimeDep) -> TicketAccepted:
    """Submit a ticket (public): answered once it is stored, with a reference and a token."""
    # One dependency on the hottest path: each one costs a resolution per request.
    return await service.submit_ticket(
        data=body,
        keys=runtime.extras["keys"],
        committer=runtime.extras["committer"],
        outbox=runtime.outbox,
    )


@router.get("/tickets/{ticket_id}", response_model=TicketPublic)
async def get_ticket(
    ticket_id: uuid.UUID, session: SessionDep, keys: KeysDep, principal: HandlerDep
) -> TicketPublic:
    """A ticket with its messages and contact decrypted (handler, coordinator); audited."""
    # A writing session: the audit entry commits with the read, or neither happens.
    return await service.read_ticket(
        session=session, keys=keys, ticket_id=ticket_id, actor=principal
    )


@router.delete("/requesters/{requester_id}", response_model=ErasureReceipt, tags=["requesters"])
async def erase_requester(
    requester_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: CoordinatorDep
) -> ErasureReceipt:
    """Erase a requester: data key destroyed, `requester.erased` published (coordinator)."""
    return await service.erase_requester(
        session=session, outbox=runtime.outbox, requester_id=requester_id, actor=principal
    )
