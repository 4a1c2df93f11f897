"""Triage's use cases."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import repository
from services.triage.domain import Classification, classify
from services.triage.errors import TriageNotFound
from services.triage.lexicon import Lexicon
from services.triage.models import (
    ClassificationPublic,
    ClassifyRequest,
    ClassifyResponse,
    TriagePublic,
    TriageRecord,
)
from shared.contracts import (
    Category,
    Flag,
    Priority,
    TicketReceived,
    TicketTriaged,
    TicketTriagedData,
)
from shared.crypto import CryptoError, RecipientKeyPair, open_sealed
from shared.messaging.consumer import PermanentError
from shared.messaging.outbox import add_to_outbox


def sealed_text_aad(ticket_id: uuid.UUID) -> bytes:
    """Must match what intake bound the sealed text to."""
    return f"sanad:ticket.received:{ticket_id}".encode()


def _public(c: Classification) -> ClassificationPublic:
    return ClassificationPublic(
        category=c.category,
        secondary_categories=list(c.secondary),
        flags=list(c.flags),
        priority=c.priority,
        language=c.language,
        confidence=c.confidence,
        needs_review=c.needs_review,
        reasons=list(c.reasons),
    )


def dry_run(*, request: ClassifyRequest, lexicon: Lexicon) -> ClassifyResponse:
    """Classify without storing anything."""
    result = classify(
        request.text,
        lexicon=lexicon,
        role=request.requester_role,
        declared_language=request.language,
    )
    return ClassifyResponse(
        **_public(result).model_dump(),
        platforms=list(result.platforms),
        languages=list(result.languages),
    )


async def triage_ticket(
    *,
    session: AsyncSession,
    event: TicketReceived,
    lexicon: Lexicon,
    keys: RecipientKeyPair,
    outbox: Table,
    now: datetime | None = None,
) -> TriageRecord:
    """Classify a received ticket, store the result and stage `ticket.triaged`."""
    if event.ticket_id is None:
        raise PermanentError("ticket.received without a ticket id")
    # The inbox makes each event apply once; this makes each ticket triage once, even if
    # intake published it again under another event id.
    existing = await repository.get(session, event.ticket_id)
    if existing is not None:
        return existing
    data = event.data
    try:
        text = open_sealed(keys, data.sealed_text, aad=sealed_text_aad(event.ticket_id))
    except CryptoError as exc:
        # Sealed for another key, or tampered with: no retry will ever open it.
        raise PermanentError("sealed text cannot be opened") from exc
    result = classify(
        text, lexicon=lexicon, role=data.requester_role, declared_language=data.declared_language
    )
    triaged_at = now or datetime.now(UTC)
    record = TriageRecord(
        ticket_id=event.ticket_id,
        category=result.category.value,
        secondary=[c.value for c in result.secondary],
        flags=[f.value for f in result.flags],
        priority=result.priority.value,
        language=result.language,
        confidence=result.confidence,
        needs_review=result.needs_review,
        reasons=list(result.reasons),
        requester_role=data.requester_role.value,
        channel=data.channel.value,
        country=data.country,
        received_at=data.received_at,
        triaged_at=triaged_at,
    )
    repository.add(session, record)
    await add_to_outbox(
        session,
        outbox,
        TicketTriaged(
            ticket_id=event.ticket_id,
            occurred_at=triaged_at,
            data=TicketTriagedData(
                category=result.category,
                secondary_categories=result.secondary,
                flags=result.flags,
                priority=result.priority,
                language=result.language,
                confidence=result.confidence,
                needs_review=result.needs_review,
                rule_ids=result.rule_ids,
                requester_role=data.requester_role,
                channel=data.channel,
                country=data.country,
                received_at=data.received_at,
                triaged_at=triaged_at,
            ),
        ),
    )
    return record


async def read_triage(*, session: AsyncSession, ticket_id: uuid.UUID) -> TriagePublic:
    record = await repository.get(session, ticket_id)
    if record is None:
        raise TriageNotFound()
    return TriagePublic(
        ticket_id=record.ticket_id,
        category=Category(record.category),
        secondary_categories=[Category(c) for c in record.secondary],
        flags=[Flag(f) for f in record.flags],
        priority=Priority(record.priority),
        language=record.language,
        confidence=record.confidence,
        needs_review=record.needs_review,
        reasons=record.reasons,
        received_at=record.received_at,
        triaged_at=record.triaged_at,
    )
