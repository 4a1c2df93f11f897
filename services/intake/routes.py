"""Intake's HTTP routes: thin, one service call each."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Query, Response, status
from pydantic import AwareDatetime

from services.intake import handling, people, service
from services.intake.deps import CoordinatorDep, HandlerDep, KeysDep, RuntimeDep, SessionDep
from services.intake.models import (
    Closure,
    ConsentPublic,
    ConsentUpdate,
    ErasureReceipt,
    MessageAdded,
    MessageCreate,
    StatusChange,
    TicketAccepted,
    TicketCreate,
    TicketPage,
    TicketPublic,
    TicketState,
    VettingPublic,
    VettingUpdate,
)
from shared.contracts import Channel, TicketStatus

router = APIRouter(prefix="/v1", tags=["tickets"])


@router.post("/tickets", status_code=status.HTTP_202_ACCEPTED, response_model=TicketAccepted)
async def create_ticket(
    body: TicketCreate, response: Response, runtime: RuntimeDep
) -> TicketAccepted:
    """Submit a ticket (public): answered once it is stored, with a reference and a token.

    The same text with the same contact within ten minutes opens no second ticket: 200 with
    the first one's reference, `duplicate`, no token. Without a contact nothing says who
    sent it (a gateway forwards many people's messages): every submission is new.
    """
    # One dependency on the hottest path: each one costs a resolution per request.
    accepted = await service.submit_ticket(
        data=body,
        keys=runtime.extras["keys"],
        committer=runtime.extras["committer"],
        outbox=runtime.outbox,
        recent=runtime.extras["recent_submissions"],
        sessions=runtime.sessions,
        writer_sessions=runtime.writer_sessions,
    )
    if accepted.duplicate:
        response.status_code = status.HTTP_200_OK
    return accepted


@router.get("/tickets", response_model=TicketPage)
async def list_tickets(
    session: SessionDep,
    principal: HandlerDep,
    status: TicketStatus | None = None,
    channel: Channel | None = None,
    language: Annotated[str | None, Query(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] = None,
    received_from: AwareDatetime | None = None,
    received_before: AwareDatetime | None = None,
    assigned_handler: Annotated[
        str | None, Query(max_length=64, pattern=r"^[a-z0-9][a-z0-9_-]*$")
    ] = None,
    unassigned: bool = False,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    """Tickets newest first, filtered, a page at a time; nothing decrypted (handler); audited."""
    return await handling.list_tickets(
        session=session,
        actor=principal,
        status=status,
        channel=channel,
        language=language,
        received_from=received_from,
        received_before=received_before,
        assigned_handler=assigned_handler,
        unassigned=unassigned,
        cursor=cursor,
        limit=limit,
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


@router.post(
    "/tickets/{ticket_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageAdded,
)
async def add_message(
    ticket_id: uuid.UUID,
    body: MessageCreate,
    session: SessionDep,
    keys: KeysDep,
    runtime: RuntimeDep,
    principal: HandlerDep,
) -> MessageAdded:
    """Reply to the requester through the ticket's channel, or add an internal note."""
    return await handling.add_handler_message(
        session=session,
        keys=keys,
        outbox=runtime.outbox,
        ticket_id=ticket_id,
        text=body.text,
        internal=body.internal,
        actor=principal,
        on_queued=runtime.extras.get("outbound_wake"),
    )


@router.get(
    "/tickets/{ticket_id}/attachments/{attachment_id}",
    response_class=Response,
    responses={200: {"content": {"application/octet-stream": {}}}},
)
async def get_attachment(
    ticket_id: uuid.UUID,
    attachment_id: uuid.UUID,
    session: SessionDep,
    keys: KeysDep,
    principal: HandlerDep,
) -> Response:
    """A file kept as evidence (an email's attachment), as a download; audited."""
    attachment, content = await service.read_attachment(
        session=session,
        keys=keys,
        ticket_id=ticket_id,
        attachment_id=attachment_id,
        actor=principal,
    )
    # Never rendered in the browser, whatever the sender said it was.
    return Response(
        content,
        media_type="application/octet-stream",
        headers={
            "Content-Disposition": _attachment_disposition(attachment.filename),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "no-store",
        },
    )


def _attachment_disposition(filename: str | None) -> str:
    if not filename:
        return "attachment"
    return f"attachment; filename*=UTF-8''{quote(filename, safe='')}"


@router.post("/tickets/{ticket_id}/status", response_model=TicketState)
async def change_status(
    ticket_id: uuid.UUID,
    body: StatusChange,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: HandlerDep,
) -> TicketState:
    """Move a ticket along new, open, waiting_on_requester, resolved; 409 if not allowed."""
    return await handling.change_status(
        session=session,
        outbox=runtime.outbox,
        ticket_id=ticket_id,
        to=body.status,
        actor=principal,
    )


@router.post("/tickets/{ticket_id}/close", response_model=TicketState)
async def close_ticket(
    ticket_id: uuid.UUID,
    body: Closure,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: HandlerDep,
) -> TicketState:
    """Close a ticket with its outcome (handler, coordinator)."""
    return await handling.close_ticket(
        session=session,
        outbox=runtime.outbox,
        ticket_id=ticket_id,
        outcome=body.outcome,
        actor=principal,
    )


@router.get("/requesters/{requester_id}/consent", response_model=ConsentPublic, tags=["requesters"])
async def get_consent(
    requester_id: uuid.UUID, session: SessionDep, principal: HandlerDep
) -> ConsentPublic:
    """What the person agreed to, per purpose, with its history; audited."""
    return await people.read_consent(session=session, requester_id=requester_id, actor=principal)


@router.put("/requesters/{requester_id}/consent", response_model=ConsentPublic, tags=["requesters"])
async def change_consent(
    requester_id: uuid.UUID,
    body: ConsentUpdate,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: HandlerDep,
) -> ConsentPublic:
    """Record a consent change on the person's word; publishes `consent.changed`."""
    return await people.change_consent(
        session=session,
        outbox=runtime.outbox,
        requester_id=requester_id,
        update=body,
        actor=principal,
    )


@router.get("/requesters/{requester_id}/vetting", response_model=VettingPublic, tags=["requesters"])
async def get_vetting(
    requester_id: uuid.UUID, session: SessionDep, keys: KeysDep, principal: HandlerDep
) -> VettingPublic:
    """A requester's vetting state with who set it, when and why; audited."""
    return await people.read_vetting(
        session=session, keys=keys, requester_id=requester_id, actor=principal
    )


@router.put("/requesters/{requester_id}/vetting", response_model=VettingPublic, tags=["requesters"])
async def change_vetting(
    requester_id: uuid.UUID,
    body: VettingUpdate,
    session: SessionDep,
    keys: KeysDep,
    principal: HandlerDep,
) -> VettingPublic:
    """Set a requester's vetting state, with a reason (handler, coordinator); audited."""
    return await people.change_vetting(
        session=session, keys=keys, requester_id=requester_id, update=body, actor=principal
    )


@router.delete("/requesters/{requester_id}", response_model=ErasureReceipt, tags=["requesters"])
async def erase_requester(
    requester_id: uuid.UUID, session: SessionDep, runtime: RuntimeDep, principal: CoordinatorDep
) -> ErasureReceipt:
    """Erase a requester: data key destroyed, `requester.erased` published (coordinator)."""
    return await service.erase_requester(
        session=session, outbox=runtime.outbox, requester_id=requester_id, actor=principal
    )
