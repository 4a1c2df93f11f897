"""Triage's HTTP routes: thin, one service call each."""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter, Query, Response

from services.triage import clocks, service
from services.triage.deps import (
    ClassifierDep,
    CoordinatorDep,
    HandlerDep,
    LabelsDep,
    LexiconDep,
    ReadSessionDep,
    RuntimeDep,
    SessionDep,
)
from services.triage.models import (
    ClassifyRequest,
    ClassifyResponse,
    OverrideRequest,
    SlaPublic,
    TriageDetail,
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
async def get_triage(ticket_id: uuid.UUID, session: ReadSessionDep, _: HandlerDep) -> TriageDetail:
    """A ticket's category, flags, priority, reasons, changes and SLA clock (handler)."""
    return await service.read_triage(session=session, ticket_id=ticket_id)


@router.put("/triage/{ticket_id}", response_model=TriageDetail)
async def override_triage(
    ticket_id: uuid.UUID,
    body: OverrideRequest,
    session: SessionDep,
    runtime: RuntimeDep,
    principal: HandlerDep,
) -> TriageDetail:
    """Override category, flags and priority with a reason; announced (handler, coordinator)."""
    return await service.override_triage(
        session=session,
        outbox=runtime.outbox,
        ticket_id=ticket_id,
        request=body,
        actor_id=principal.token_id,
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
