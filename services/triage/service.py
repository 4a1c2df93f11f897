"""Triage's use cases."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from enum import StrEnum

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.triage import clocks, keys, repository, roster
from services.triage.domain import Classification, classify
from services.triage.errors import TriageNotFound
from services.triage.lexicon import Lexicon
from services.triage.models import (
    AUDIT_TABLES,
    AssignmentRequest,
    ChangePublic,
    ClassificationPublic,
    ClassifyRequest,
    ClassifyResponse,
    Label,
    OverrideExportRow,
    OverrideRequest,
    SuggestionPublic,
    TriageChange,
    TriageDetail,
    TriageRecord,
)
from shared import audit
from shared.audit import ObjectType
from shared.auth import Principal
from shared.contracts import (
    Category,
    Flag,
    Priority,
    RepriorityReason,
    TicketReceived,
    TicketReprioritised,
    TicketReprioritisedData,
    TicketTriaged,
    TicketTriagedData,
)
from shared.crypto import CryptoError, DataKey, MasterKeyring, RecipientKeyPair, open_sealed
from shared.messaging.consumer import PermanentError
from shared.messaging.outbox import add_to_outbox

OVERRIDE_KIND = "override"


def sealed_text_aad(ticket_id: uuid.UUID) -> bytes:
    """Must match what intake bound the sealed text to."""
    return f"sanad:ticket.received:{ticket_id}".encode()


def message_text_aad(message_id: uuid.UUID) -> bytes:
    """Must match what intake bound a requester's later message to."""
    return f"sanad:ticket.message_added:{message_id}".encode()


def outranks(a: Priority, b: Priority) -> bool:
    """`a` is more urgent than `b` ("P1" sorts before "P2")."""
    return a.value < b.value


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
    masters: MasterKeyring,
    outbox: Table,
    now: datetime | None = None,
) -> TriageRecord:
    """Classify a received ticket, store it, stage `ticket.triaged`, and assign a handler."""
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
        classifier_category=result.category.value,
        classifier_flags=[f.value for f in result.flags],
        classifier_priority=result.priority.value,
    )
    repository.add(session, record)
    await clocks.start_clock(
        session=session,
        ticket_id=event.ticket_id,
        priority=result.priority,
        received_at=data.received_at,
    )
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
    await roster.auto_assign(
        session=session, outbox=outbox, masters=masters, record=record, now=triaged_at
    )
    await roster.page_lead(
        session=session,
        outbox=outbox,
        ticket_id=event.ticket_id,
        priority=result.priority,
        now=triaged_at,
    )
    return record


def _label(category: str, flags: Iterable[str], priority: str) -> Label:
    return Label(
        category=Category(category), flags=[Flag(f) for f in flags], priority=Priority(priority)
    )


def _classifier_label(record: TriageRecord) -> Label:
    # Records triaged before overrides existed: what they hold is the classifier's output.
    return _label(
        record.classifier_category or record.category,
        record.classifier_flags if record.classifier_flags is not None else record.flags,
        record.classifier_priority or record.priority,
    )


def _change_public(change: TriageChange, key: DataKey | None) -> ChangePublic:
    return ChangePublic(
        **_label(change.category, change.flags, change.priority).model_dump(),
        source=change.source,
        actor_id=change.actor_id,
        from_category=Category(change.from_category),
        from_flags=[Flag(f) for f in change.from_flags],
        from_priority=Priority(change.from_priority),
        reason=keys.open_reason(key, change.ticket_id, OVERRIDE_KIND, change.reason_sealed),
        changed_at=change.changed_at,
    )


def _suggestion_public(suggestion: dict[str, object] | None) -> SuggestionPublic | None:
    return SuggestionPublic.model_validate(suggestion) if suggestion else None


async def read_triage(
    *,
    session: AsyncSession,
    ticket_id: uuid.UUID,
    masters: MasterKeyring | None = None,
    now: datetime | None = None,
) -> TriageDetail:
    """A ticket's triage, the classifier's first answer, changes, suggestion, clock, handler.

    Without `masters` the handlers' reasons are not decrypted (they read null).
    """
    record = await repository.get(session, ticket_id)
    if record is None:
        raise TriageNotFound()
    clock = await repository.get_clock(session, ticket_id)
    changes = await repository.changes_of(session, ticket_id)
    key = None
    if masters is not None and any(c.reason_sealed is not None for c in changes):
        key = await keys.ticket_key(session, masters, ticket_id, create=False)
    assignment = await roster.assignment_public(
        session=session, masters=masters, ticket_id=ticket_id
    )
    return TriageDetail(
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
        classifier=_classifier_label(record),
        changes=[_change_public(c, key) for c in changes],
        suggestion=_suggestion_public(record.suggestion),
        sla=clocks.clock_public(clock, now or datetime.now(UTC)) if clock else None,
        assignment=assignment,
    )


async def _audit(
    session: AsyncSession, actor: Principal, action: audit.Action, ticket_id: uuid.UUID
) -> None:
    await audit.record(
        session,
        AUDIT_TABLES,
        actor=actor,
        action=action,
        objects=[(ObjectType.ticket, str(ticket_id))],
    )


async def view_triage(
    *, session: AsyncSession, masters: MasterKeyring, ticket_id: uuid.UUID, actor: Principal
) -> TriageDetail:
    """`read_triage` for a person, reasons decrypted; audited."""
    detail = await read_triage(session=session, ticket_id=ticket_id, masters=masters)
    await _audit(session, actor, audit.Action.read, ticket_id)
    return detail


async def apply_change(
    *,
    session: AsyncSession,
    outbox: Table,
    record: TriageRecord,
    source: RepriorityReason,
    actor_id: str,
    label: Label,
    reason: bytes | None,
    now: datetime,
) -> None:
    """Apply a new label to a triaged ticket: history row, clock, `ticket.reprioritised`.

    `reason` is the handler's reason already sealed under the ticket's key.
    """
    before = _label(record.category, record.flags, record.priority)
    if record.classifier_category is None:
        record.classifier_category = before.category.value
        record.classifier_flags = [f.value for f in before.flags]
        record.classifier_priority = before.priority.value
    flags = [f.value for f in label.flags]
    repository.add(
        session,
        TriageChange(
            ticket_id=record.ticket_id,
            source=source.value,
            actor_id=actor_id,
            from_category=before.category.value,
            from_flags=[f.value for f in before.flags],
            from_priority=before.priority.value,
            category=label.category.value,
            flags=flags,
            priority=label.priority.value,
            reason_sealed=reason,
            changed_at=now,
        ),
    )
    if label.category is not before.category:
        secondary = [c for c in record.secondary if c != label.category.value]
        record.secondary = [before.category.value, *secondary]
    record.category, record.flags = label.category.value, flags
    record.priority = label.priority.value
    due = await clocks.reprice_clock(
        session=session, ticket_id=record.ticket_id, priority=label.priority, now=now
    )
    await add_to_outbox(
        session,
        outbox,
        TicketReprioritised(
            ticket_id=record.ticket_id,
            occurred_at=now,
            data=TicketReprioritisedData(
                reason=source,
                from_priority=before.priority,
                priority=label.priority,
                from_category=before.category,
                category=label.category,
                flags=tuple(label.flags),
                actor_id=actor_id,
                sla_due_at=due,
                changed_at=now,
            ),
        ),
    )
    # Raised to P1 by a handler or a later message: the lead hears of it (once per ticket).
    await roster.page_lead(
        session=session,
        outbox=outbox,
        ticket_id=record.ticket_id,
        priority=label.priority,
        now=now,
    )


async def override_triage(
    *,
    session: AsyncSession,
    outbox: Table,
    masters: MasterKeyring,
    ticket_id: uuid.UUID,
    request: OverrideRequest,
    actor: Principal,
    now: datetime | None = None,
) -> TriageDetail:
    """A handler sets category, flags and priority; the same label again changes nothing.

    The reason is stored encrypted under the ticket's key; audited.
    """
    record = await repository.get(session, ticket_id)
    if record is None:
        raise TriageNotFound()
    now = now or datetime.now(UTC)
    label = Label(
        category=request.category,
        flags=sorted(set(request.flags), key=list(Flag).index),
        priority=request.priority,
    )
    if label != _label(record.category, record.flags, record.priority):
        await apply_change(
            session=session,
            outbox=outbox,
            record=record,
            source=RepriorityReason.override,
            actor_id=actor.token_id,
            label=label,
            reason=await keys.seal_reason(
                session, masters, ticket_id, OVERRIDE_KIND, request.reason
            ),
            now=now,
        )
        await session.flush()
    await _audit(session, actor, audit.Action.update, ticket_id)
    return await read_triage(session=session, ticket_id=ticket_id, masters=masters, now=now)


async def assign_ticket(
    *,
    session: AsyncSession,
    outbox: Table,
    masters: MasterKeyring,
    ticket_id: uuid.UUID,
    request: AssignmentRequest,
    actor: Principal,
) -> TriageDetail:
    """Set or take a ticket's handler (roster.assign); audited."""
    await roster.assign(
        session=session,
        outbox=outbox,
        masters=masters,
        ticket_id=ticket_id,
        request=request,
        actor=actor,
    )
    await _audit(session, actor, audit.Action.update, ticket_id)
    return await read_triage(session=session, ticket_id=ticket_id, masters=masters)


async def seal_clear_reasons(
    *, session: AsyncSession, masters: MasterKeyring, batch: int = 500
) -> int:
    """Encrypt reasons stored in clear before this version; how many were."""
    done = 0
    while rows := await repository.clear_reasons(session, limit=batch):
        for change in rows:
            change.reason_sealed = await keys.seal_reason(
                session, masters, change.ticket_id, OVERRIDE_KIND, change.reason
            )
            change.reason = None
        await session.flush()
        done += len(rows)
    return done


class ExportFormat(StrEnum):
    jsonl = "jsonl"
    csv = "csv"


async def export_overrides(
    *, session: AsyncSession, fmt: ExportFormat, since: datetime | None = None
) -> str:
    """Handlers' overrides as labelled data: ticket id, classifier output, label, time; no text."""
    rows = [
        OverrideExportRow(
            ticket_id=change.ticket_id,
            language=record.language,
            **{f"classifier_{k}": v for k, v in _classifier_label(record).model_dump().items()},
            **{
                f"label_{k}": v
                for k, v in _label(change.category, change.flags, change.priority)
                .model_dump()
                .items()
            },
            overridden_at=change.changed_at,
        )
        for change, record in await repository.overrides_with_triage(
            session, since=since, source=RepriorityReason.override.value
        )
    ]
    if fmt is ExportFormat.jsonl:
        return "".join(row.model_dump_json() + "\n" for row in rows)
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(OverrideExportRow.model_fields), lineterminator="\n"
    )
    writer.writeheader()
    for row in rows:
        flat = row.model_dump(mode="json")
        writer.writerow({k: " ".join(v) if isinstance(v, list) else v for k, v in flat.items()})
    return out.getvalue()
