"""Triage's HTTP routes: thin, one service call each."""

from __future__ import annotations

import uuid

from fastapi import APIRouter

from services.triage import service
from services.triage.deps import ClassifierDep, HandlerDep, LexiconDep, ReadSessionDep
from services.triage.models import ClassifyRequest, ClassifyResponse, TriagePublic

router = APIRouter(prefix="/v1", tags=["triage"])


@router.get("/triage/{ticket_id}", response_model=TriagePublic)
async def get_triage(ticket_id: uuid.UUID, session: ReadSessionDep, _: HandlerDep) -> TriagePublic:
    """A ticket's category, flags, priority and the reasons for them (handler)."""
    return await service.read_triage(session=session, ticket_id=ticket_id)


@router.post("/classify", response_model=ClassifyResponse)
async def classify(
    body: ClassifyRequest, lexicon: LexiconDep, _: ClassifierDep
) -> ClassifyResponse:
    """Classify a message as a ticket would be, storing nothing (service, handler)."""
    return service.dry_run(request=body, lexicon=lexicon)
