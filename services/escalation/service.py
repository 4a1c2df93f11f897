"""Escalation's use cases: open, read, move and approve escalations; remind on silence."""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Table
from sqlalchemy.ext.asyncio import AsyncSession

from services.escalation import domain, repository
from services.escalation.case_audit import record_ticket
from services.escalation.errors import (
    AlreadySubmitted,
    ApprovalMissing,
    ConsentMissing,
    ContentUnreadable,
    EscalationNotFound,
    ImpossibleTransition,
    MissingFields,
    NotTriaged,
    UnknownPlatform,
    UnsupportedAction,
)
from services.escalation.keys import (
    TICKET_KEY,
    ContentKey,
    open_content,
    seal_content,
    sealing_key,
    ticket_key,
)
from services.escalation.models import (
    ContentReferences,
    Escalation,
    EscalationCreate,
    EscalationDetail,
    EscalationPublic,
    EscalationTransition,
    TransitionPublic,
    TransitionRequest,
)
from services.escalation.platforms import PlatformRegistry
from shared import audit
from shared.auth import Principal
from shared.contracts import (
    Category,
    EscalationAction,
    EscalationOpened,
    EscalationOpenedData,
    EscalationResolved,
    EscalationResolvedData,
    EscalationState,
    EscalationUpdated,
    EscalationUpdatedData,
)
from shared.messaging.outbox import add_to_outbox
from shared.notify import queue_notice

# For an escalation whose platform left the registry: reminders still come.
FALLBACK_RESPONSE_TIME = timedelta(days=7)


async def open_escalation(
    *,
    session: AsyncSession,
    outbox: Table,
    registry: PlatformRegistry,
    key: ContentKey,
    request: EscalationCreate,
    actor: Principal,
    now: datetime,
) -> EscalationDetail:
    """Draft an escalation of a triaged ticket to a platform; announced, audited."""
    platform = registry.get(request.platform)
    if platform is None:
        raise UnknownPlatform(f"no platform {request.platform!r} in the registry")
    if request.action not in platform.actions:
        raise UnsupportedAction(f"{platform.name} does not take {request.action.value}")
    case = await repository.get_case(session, request.ticket_id)
    if case is None:
        raise NotTriaged()
    violation = request.violation_type or registry.violation_type(platform, Category(case.category))
    content = request.content
    given: dict[str, object] = {**content.model_dump(), "violation_type": violation}
    missing = domain.missing_fields(platform.required_fields, given)
    if missing:
        raise MissingFields(f"{platform.name} needs: {', '.join(missing)}", missing=missing)
    escalation_id = uuid.uuid4()
    # None once the requester is erased: nothing new about them is kept.
    data_key = await ticket_key(session, key, request.ticket_id, create=True)
    row = Escalation(
        id=escalation_id,
        ticket_id=request.ticket_id,
        platform=platform.id,
        action=request.action.value,
        state=EscalationState.drafted.value,
        violation_type=violation,
        content_sealed=seal_content(data_key, escalation_id, content.model_dump_json())
        if data_key is not None
        else None,
        content_key_id=TICKET_KEY,
        content_erased_at=None if data_key is not None else now,
        requires_approval=domain.needs_approval(case.priority, case.flags),
        opened_by=actor.token_id,
        opened_at=now,
        updated_at=now,
    )
    repository.add(session, row)
    _stamp(session, row, EscalationState.drafted, kind="opened", actor_id=actor.token_id, at=now)
    await add_to_outbox(
        session,
        outbox,
        EscalationOpened(
            ticket_id=row.ticket_id,
            occurred_at=now,
            data=EscalationOpenedData(
                escalation_id=row.id,
                platform=row.platform,
                action=EscalationAction(row.action),
                state=EscalationState.drafted,
                requires_approval=row.requires_approval,
                opened_at=now,
            ),
        ),
    )
    await record_ticket(session, actor, audit.Action.create, row.ticket_id, now)
    return await _detail(session, row, key)


async def list_escalations(
    *, session: AsyncSession, ticket_id: uuid.UUID, actor: Principal, now: datetime
) -> list[EscalationPublic]:
    """A ticket's escalations without their content references; audited."""
    rows = await repository.escalations_of_ticket(session, ticket_id)
    await record_ticket(session, actor, audit.Action.read, ticket_id, now)
    return [_public(row) for row in rows]


async def read_escalation(
    *,
    session: AsyncSession,
    key: ContentKey,
    escalation_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> EscalationDetail:
    """One escalation with its content references and history; audited."""
    row = await _get(session, escalation_id)
    await record_ticket(session, actor, audit.Action.read, row.ticket_id, now)
    return await _detail(session, row, key)


async def transition(
    *,
    session: AsyncSession,
    outbox: Table,
    registry: PlatformRegistry,
    key: ContentKey,
    escalation_id: uuid.UUID,
    request: TransitionRequest,
    actor: Principal,
    now: datetime,
) -> EscalationDetail:
    """Move an escalation; a move that sends to the platform needs consent and approval."""
    row = await _get(session, escalation_id)
    current, target = EscalationState(row.state), request.to
    try:
        domain.check_transition(current, target)
    except domain.TransitionRefused as exc:
        raise ImpossibleTransition(str(exc)) from None
    if domain.sends_to_platform(target):
        await _check_may_send(session, row)
    _apply(row, target, now, _expected(registry, row.platform))
    if request.platform_reference is not None:
        row.platform_reference = request.platform_reference
    _stamp(session, row, current, kind="transition", actor_id=actor.token_id, at=now)
    events: list[EscalationUpdated | EscalationResolved] = [_updated(row, current, now)]
    if target in domain.FINAL:
        events.append(_resolved(row, now))
    await add_to_outbox(session, outbox, *events)
    await record_ticket(session, actor, audit.Action.update, row.ticket_id, now)
    return await _detail(session, row, key)


async def approve(
    *,
    session: AsyncSession,
    outbox: Table,
    key: ContentKey,
    escalation_id: uuid.UUID,
    actor: Principal,
    now: datetime,
) -> EscalationDetail:
    """A coordinator's approval of an escalation not yet submitted; announced, audited."""
    row = await _get(session, escalation_id)
    if row.state != EscalationState.drafted.value:
        raise AlreadySubmitted()
    if row.approved_at is None:
        row.approved_by, row.approved_at, row.updated_at = actor.token_id, now, now
        state = EscalationState(row.state)
        _stamp(session, row, state, kind="approved", actor_id=actor.token_id, at=now)
        await add_to_outbox(session, outbox, _updated(row, state, now))
        await record_ticket(session, actor, audit.Action.update, row.ticket_id, now)
    return await _detail(session, row, key)


async def remind_silent_platforms(
    *,
    session: AsyncSession,
    outbox: Table,
    registry: PlatformRegistry,
    now: datetime,
    limit: int,
    notices: Table | None = None,
) -> int:
    """Announce each escalation whose platform let its expected time pass; returns how many.

    Each reminder is also queued in `notices` for the notification hook (when one is
    configured), in the same transaction: ids, platform, action, state and times only.
    """
    count = 0
    for row in await repository.reminders_due(session, now, limit=limit):
        missed = row.response_due_at
        assert missed is not None
        row.reminders_sent += 1
        row.response_due_at = domain.next_reminder(missed, _expected(registry, row.platform), now)
        state = EscalationState(row.state)
        event = _updated(row, state, now, reminder=True)
        event = event.model_copy(
            update={"data": event.data.model_copy(update={"response_due_at": missed})}
        )
        await add_to_outbox(session, outbox, event)
        if notices is not None:
            await queue_notice(
                session,
                notices,
                {
                    "type": "sanad.escalation.reminder",
                    "escalation_id": str(row.id),
                    "ticket_id": str(row.ticket_id),
                    "platform": row.platform,
                    "action": row.action,
                    "state": row.state,
                    "reminders_sent": row.reminders_sent,
                    "response_due_at": missed.isoformat(),
                    "detected_at": now.isoformat(),
                },
                now=now,
            )
        count += 1
    return count


# --- helpers ---------------------------------------------------------------------


async def _get(session: AsyncSession, escalation_id: uuid.UUID) -> Escalation:
    row = await repository.get_escalation(session, escalation_id)
    if row is None:
        raise EscalationNotFound()
    return row


async def _check_may_send(session: AsyncSession, row: Escalation) -> None:
    link = await repository.get_ticket_requester(session, row.ticket_id)
    consent = await repository.get_consent(session, link.requester_id) if link else None
    if consent is None or not consent.share_with_platforms:
        raise ConsentMissing()
    case = await repository.get_case(session, row.ticket_id)
    if case is not None and domain.needs_approval(case.priority, case.flags):
        # A re-triage to P1 after opening still calls for a coordinator.
        row.requires_approval = True
    if row.requires_approval and row.approved_at is None:
        raise ApprovalMissing()


def _expected(registry: PlatformRegistry, platform_id: str) -> timedelta:
    platform = registry.get(platform_id)
    return platform.expected_response if platform is not None else FALLBACK_RESPONSE_TIME


def _apply(row: Escalation, target: EscalationState, now: datetime, expected: timedelta) -> None:
    if target is EscalationState.drafted:  # reopened: a new round, timed afresh
        row.submitted_at = row.acknowledged_at = row.resolved_at = None
    elif target is EscalationState.submitted and row.submitted_at is None:
        row.submitted_at = now
    elif target is EscalationState.acknowledged and row.acknowledged_at is None:
        row.acknowledged_at = now
    elif target in domain.FINAL:
        row.resolved_at = now
    row.state = target.value
    row.response_due_at = domain.response_due(target, now, expected)
    row.reminders_sent = 0
    row.updated_at = now


def _stamp(
    session: AsyncSession,
    row: Escalation,
    from_state: EscalationState,
    *,
    kind: str,
    actor_id: str,
    at: datetime,
) -> None:
    repository.add(
        session,
        EscalationTransition(
            escalation_id=row.id,
            from_state=from_state.value,
            to_state=row.state,
            kind=kind,
            actor_id=actor_id,
            at=at,
        ),
    )


def _updated(
    row: Escalation, from_state: EscalationState, now: datetime, *, reminder: bool = False
) -> EscalationUpdated:
    return EscalationUpdated(
        ticket_id=row.ticket_id,
        occurred_at=now,
        data=EscalationUpdatedData(
            escalation_id=row.id,
            platform=row.platform,
            action=EscalationAction(row.action),
            from_state=from_state,
            state=EscalationState(row.state),
            approved=row.approved_at is not None,
            reminder=reminder,
            reminders_sent=row.reminders_sent,
            response_due_at=row.response_due_at,
            changed_at=now,
        ),
    )


def _resolved(row: Escalation, now: datetime) -> EscalationResolved:
    submitted = row.submitted_at
    assert submitted is not None  # a final state is reached only after a submission
    to_outcome = domain.seconds_between(submitted, now)
    assert to_outcome is not None
    return EscalationResolved(
        ticket_id=row.ticket_id,
        occurred_at=now,
        data=EscalationResolvedData(
            escalation_id=row.id,
            platform=row.platform,
            action=EscalationAction(row.action),
            outcome=EscalationState(row.state),
            submitted_at=submitted,
            acknowledged_at=row.acknowledged_at,
            resolved_at=now,
            seconds_to_acknowledgement=domain.seconds_between(submitted, row.acknowledged_at)
            if row.acknowledged_at
            else None,
            seconds_to_outcome=to_outcome,
        ),
    )


def _public(row: Escalation) -> EscalationPublic:
    return EscalationPublic(
        id=row.id,
        ticket_id=row.ticket_id,
        platform=row.platform,
        action=EscalationAction(row.action),
        state=EscalationState(row.state),
        violation_type=row.violation_type,
        requires_approval=row.requires_approval,
        approved_by=row.approved_by,
        approved_at=row.approved_at,
        platform_reference=row.platform_reference,
        opened_by=row.opened_by,
        opened_at=row.opened_at,
        submitted_at=row.submitted_at,
        acknowledged_at=row.acknowledged_at,
        resolved_at=row.resolved_at,
        response_due_at=row.response_due_at,
        reminders_sent=row.reminders_sent,
        content_erased=row.content_erased_at is not None,
    )


async def _content(
    session: AsyncSession, row: Escalation, key: ContentKey
) -> ContentReferences | None:
    if row.content_sealed is None:
        return None
    try:
        data_key = await sealing_key(session, key, row.ticket_id, row.content_key_id)
    except KeyError:
        raise ContentUnreadable() from None
    if data_key is None:
        return None
    text = open_content(data_key, row.id, row.content_sealed)
    return ContentReferences.model_validate(json.loads(text))


async def _detail(session: AsyncSession, row: Escalation, key: ContentKey) -> EscalationDetail:
    moves: Sequence[EscalationTransition] = await repository.transitions_of(session, row.id)
    return EscalationDetail(
        **_public(row).model_dump(),
        content=await _content(session, row, key),
        transitions=[
            TransitionPublic(
                from_state=EscalationState(m.from_state),
                to_state=EscalationState(m.to_state),
                kind=m.kind,
                actor_id=m.actor_id,
                at=m.at,
            )
            for m in moves
        ],
    )
