"""Triage's HTTP routes: thin, one service call each."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Path, Query, Response, status

from services.triage import clocks, roster, service
from services.triage.deps import (
    ClassifierDep,
    CoordinatorDep,
    HandlerDep,
    LabelsDep,
    LexiconDep,
    MastersDep,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
)
from services.triage.models import (
    SLUG,
    AssignmentRequest,
    ClassifyRequest,
    ClassifyResponse,
    HandlerCreate,
    HandlerPublic,
    HandlerUpdate,
    OverrideRequest,
    QueuePage,
    SlaPublic,
    TriageDetail,
    Workload,
)

router = APIRouter(prefix="/v1", tags=["triage"])

_MEDIA = {service.ExportFormat.jsonl: "application/x-ndjson", service.ExportFormat.csv: "text/csv"}


@router.get("/triage/overrides/export", response_class=Response)
async def export_overrides(
    session: ReadSessionDep,
    _: LabelsDep,
    format: service.ExportFormat = service.ExportFormat.jsonl,
    since: datetime | None = None,
) -> Response:
    """Handlers' overrides as labelled data, ids and labels only (coordinator, analyst)."""
    body = await service.export_overrides(session=session, fmt=format, since=since)
    return Response(body, media_type=_MEDIA[format])


@router.get("/triage/{ticket_id}", response_model=TriageDetail)
async def get_triage(
    ticket_id: uuid.UUID, session: SessionDep, masters: MastersDep, principal: HandlerDep
) -> TriageDetail:
    """A ticket's category, flags, priority, reasons, changes, SLA clock, handler; audited."""
    # A writing session: the audit entry commits with the read, or neither happens.
    return await service.view_triage(
        session=session, masters=masters, ticket_id=ticket_id, actor=principal
    )


@router.put("/triage/{ticket_id}", response_model=TriageDetail)
async def override_triage(
    ticket_id: uuid.UUID,
    body: OverrideRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    masters: MastersDep,
    principal: HandlerDep,
) -> TriageDetail:
    """Override category, flags and priority with a reason; announced, audited (handler)."""
    return await service.override_triage(
        session=session,
        outbox=runtime.outbox,
        masters=masters,
        ticket_id=ticket_id,
        request=body,
        actor=principal,
    )


@router.put("/triage/{ticket_id}/assignment", response_model=TriageDetail)
async def assign_ticket(
    ticket_id: uuid.UUID,
    body: AssignmentRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    masters: MastersDep,
    principal: HandlerDep,
) -> TriageDetail:
    """Set the handler, or none (coordinator); take a free ticket (handler on the roster)."""
    return await service.assign_ticket(
        session=session,
        outbox=runtime.outbox,
        masters=masters,
        ticket_id=ticket_id,
        request=body,
        actor=principal,
    )


HandlerId = Path(pattern=SLUG)


@router.get("/roster", response_model=list[HandlerPublic])
async def list_roster(session: ReadSessionDep, _: HandlerDep) -> list[HandlerPublic]:
    """The handler roster with each handler's open tickets (handler, coordinator)."""
    return await roster.list_handlers(session=session)


@router.post("/roster", response_model=HandlerPublic, status_code=status.HTTP_201_CREATED)
async def create_handler(
    body: HandlerCreate, session: SessionDep, _: CoordinatorDep
) -> HandlerPublic:
    """Add a handler: languages, expertise, capacity, availability (coordinator)."""
    return await roster.create_handler(session=session, request=body)


@router.get("/roster/workload", response_model=Workload)
async def workload(session: ReadSessionDep, _: CoordinatorDep) -> Workload:
    """Open tickets per handler and priority, and the unassigned (coordinator)."""
    return await roster.workload(session=session)


@router.get("/roster/{handler_id}", response_model=HandlerPublic)
async def read_handler(
    session: ReadSessionDep, _: HandlerDep, handler_id: str = HandlerId
) -> HandlerPublic:
    """One roster entry (handler, coordinator)."""
    return await roster.read_handler(session=session, handler_id=handler_id)


@router.patch("/roster/{handler_id}", response_model=HandlerPublic)
async def update_handler(
    body: HandlerUpdate, session: SessionDep, _: CoordinatorDep, handler_id: str = HandlerId
) -> HandlerPublic:
    """Change a roster entry's fields given, e.g. availability (coordinator)."""
    return await roster.update_handler(session=session, handler_id=handler_id, request=body)


@router.get("/queue", response_model=QueuePage)
async def queue(
    session: SessionDep,
    principal: HandlerDep,
    handler_id: str | None = Query(default=None, pattern=SLUG),
    unassigned: bool = False,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=10_000),
) -> QueuePage:
    """Open tickets, P1 first, then soonest due, then oldest; ids only (handler); audited."""
    # A writing session: the audit entry commits with the read, or neither happens.
    return await roster.queue(
        session=session,
        actor=principal,
        handler_id=handler_id,
        unassigned=unassigned,
        limit=limit,
        offset=offset,
    )


@router.get("/sla", response_model=list[SlaPublic])
async def list_sla(
    session: ReadSessionDep,
    _: CoordinatorDep,
    state: clocks.SlaFilter = clocks.SlaFilter.breached,
    limit: int = Query(default=200, ge=1, le=1000),
) -> list[SlaPublic]:
    """Unanswered tickets by how far into their first-response target they are (coordinator)."""
    return await clocks.list_clocks(session=session, which=state, limit=limit)


@router.post("/classify", response_model=ClassifyResponse)
async def classify(
    body: ClassifyRequest, lexicon: LexiconDep, _: ClassifierDep
) -> ClassifyResponse:
    """Classify a message as a ticket would be, storing nothing (service, handler)."""
    return service.dry_run(request=body, lexicon=lexicon)
