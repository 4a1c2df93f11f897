"""Builders for the lifecycle events reporting folds, and folding them through the handlers.

Times are given as offsets from RECEIVED_AT, so a test reads as a timeline.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from services.reporting.consumers import HANDLERS
from shared.app import Runtime
from shared.contracts import (
    TLP,
    Author,
    Category,
    Channel,
    ConsentPurpose,
    Envelope,
    EscalationAction,
    EscalationOpened,
    EscalationOpenedData,
    EscalationResolved,
    EscalationResolvedData,
    EscalationState,
    Outcome,
    Priority,
    ReferralDirection,
    ReferralReceived,
    ReferralReceivedData,
    ReferralSent,
    ReferralSentData,
    ReferralState,
    ReferralUpdated,
    ReferralUpdatedData,
    RepriorityReason,
    RequesterRole,
    SlaBreached,
    SlaBreachedData,
    SlaLevel,
    TicketAssigned,
    TicketAssignedData,
    TicketClosed,
    TicketClosedData,
    TicketMessageAdded,
    TicketMessageAddedData,
    TicketReprioritised,
    TicketReprioritisedData,
    TicketStatus,
    TicketStatusChanged,
    TicketStatusChangedData,
)
from shared.db import transaction
from shared.testing.events import RECEIVED_AT


async def fold(runtime: Runtime, events: Iterable[Envelope], *, batch: int = 64) -> None:
    """Apply events through the consumers' handlers, `batch` per transaction."""
    pending = list(events)
    for start in range(0, len(pending), batch):
        async with transaction(runtime.writer_sessions) as session:
            for event in pending[start : start + batch]:
                await HANDLERS[event.type](session, event)


def message_added(
    ticket_id: uuid.UUID,
    *,
    after: timedelta,
    author: Author = Author.handler,
    internal: bool = False,
) -> TicketMessageAdded:
    at = RECEIVED_AT + after
    data = TicketMessageAddedData(
        message_id=uuid.uuid4(), author=author, channel=Channel.web, internal=internal, added_at=at
    )
    return TicketMessageAdded(ticket_id=ticket_id, occurred_at=at, data=data)


def closed(
    ticket_id: uuid.UUID, *, after: timedelta, outcome: Outcome = Outcome.resolved
) -> TicketClosed:
    at = RECEIVED_AT + after
    data = TicketClosedData(outcome=outcome, actor_id="handler-1", closed_at=at)
    return TicketClosed(ticket_id=ticket_id, occurred_at=at, data=data)


def reprioritised(
    ticket_id: uuid.UUID,
    *,
    after: timedelta,
    category: Category = Category.doxxing,
    priority: Priority = Priority.P1,
    reason: RepriorityReason = RepriorityReason.override,
    **fields: Any,
) -> TicketReprioritised:
    at = RECEIVED_AT + after
    data = TicketReprioritisedData(
        reason=reason,
        from_priority=Priority.P3,
        priority=priority,
        from_category=Category.harassment,
        category=category,
        actor_id="handler-1",
        changed_at=at,
        **fields,
    )
    return TicketReprioritised(ticket_id=ticket_id, occurred_at=at, data=data)


def sla_breached(
    ticket_id: uuid.UUID, *, level: SlaLevel = SlaLevel.breached, priority: Priority = Priority.P3
) -> SlaBreached:
    percent = {SlaLevel.warning: 50, SlaLevel.breached: 100, SlaLevel.alert: 150}[level]
    at = RECEIVED_AT + timedelta(minutes=480 * percent // 100)
    data = SlaBreachedData(
        level=level,
        percent=percent,
        priority=priority,
        target_seconds=480 * 60,
        received_at=RECEIVED_AT,
        due_at=RECEIVED_AT + timedelta(minutes=480),
        detected_at=at,
    )
    return SlaBreached(ticket_id=ticket_id, occurred_at=at, data=data)


def escalation_opened(
    ticket_id: uuid.UUID, escalation_id: uuid.UUID, *, platform: str = "meta", after: timedelta
) -> EscalationOpened:
    at = RECEIVED_AT + after
    data = EscalationOpenedData(
        escalation_id=escalation_id,
        platform=platform,
        action=EscalationAction.take_down,
        state=EscalationState.drafted,
        requires_approval=False,
        opened_at=at,
    )
    return EscalationOpened(ticket_id=ticket_id, occurred_at=at, data=data)


def escalation_resolved(
    ticket_id: uuid.UUID,
    escalation_id: uuid.UUID,
    *,
    platform: str = "meta",
    submitted: datetime,
    answered_after: timedelta,
    resolved_after: timedelta,
    acknowledged: bool = True,
    outcome: EscalationState = EscalationState.actioned,
) -> EscalationResolved:
    resolved_at = submitted + resolved_after
    data = EscalationResolvedData(
        escalation_id=escalation_id,
        platform=platform,
        action=EscalationAction.take_down,
        outcome=outcome,
        submitted_at=submitted,
        acknowledged_at=submitted + answered_after if acknowledged else None,
        resolved_at=resolved_at,
        seconds_to_acknowledgement=int(answered_after.total_seconds()) if acknowledged else None,
        seconds_to_outcome=int(resolved_after.total_seconds()),
    )
    return EscalationResolved(ticket_id=ticket_id, occurred_at=resolved_at, data=data)


def status_changed(
    ticket_id: uuid.UUID,
    *,
    after: timedelta,
    to: TicketStatus,
    from_status: TicketStatus = TicketStatus.new,
) -> TicketStatusChanged:
    at = RECEIVED_AT + after
    data = TicketStatusChangedData(
        from_status=from_status, to_status=to, actor_id="handler-1", changed_at=at
    )
    return TicketStatusChanged(ticket_id=ticket_id, occurred_at=at, data=data)


def assigned(
    ticket_id: uuid.UUID, *, after: timedelta, handler_id: str | None = "h-amal"
) -> TicketAssigned:
    at = RECEIVED_AT + after
    data = TicketAssignedData(
        handler_id=handler_id, automatic=True, actor_id="triage", assigned_at=at
    )
    return TicketAssigned(ticket_id=ticket_id, occurred_at=at, data=data)


SEALED_DETAILS = "sealed-details-reporting-must-never-keep"


def referral_sent(
    referral_id: uuid.UUID,
    *,
    partner: str = "partner-a",
    after: timedelta,
    ticket_id: uuid.UUID | None = None,
) -> ReferralSent:
    at = RECEIVED_AT + after
    data = ReferralSentData(
        referral_id=referral_id,
        partner_id=partner,
        category=Category.doxxing,
        priority=Priority.P2,
        tlp=TLP.amber,
        attempts=1,
        created_at=at - timedelta(minutes=5),
        sent_at=at,
    )
    return ReferralSent(ticket_id=ticket_id or uuid.uuid4(), occurred_at=at, data=data)


def referral_received(
    referral_id: uuid.UUID,
    *,
    partner: str = "partner-a",
    after: timedelta,
    ticket_id: uuid.UUID | None = None,
) -> ReferralReceived:
    at = RECEIVED_AT + after
    data = ReferralReceivedData(
        referral_id=referral_id,
        partner_id=partner,
        category=Category.threats,
        priority=Priority.P1,
        physical_risk=True,
        requester_role=RequesterRole.journalist,
        country="LB",
        consents={ConsentPurpose.share_with_partners: True},
        tlp=TLP.red,
        sealed_details=SEALED_DETAILS,
        received_at=at,
    )
    return ReferralReceived(ticket_id=ticket_id or uuid.uuid4(), occurred_at=at, data=data)


def referral_updated(
    referral_id: uuid.UUID,
    *,
    partner: str = "partner-a",
    direction: ReferralDirection = ReferralDirection.outbound,
    to: ReferralState,
    after: timedelta,
    from_state: ReferralState = ReferralState.sent,
) -> ReferralUpdated:
    at = RECEIVED_AT + after
    data = ReferralUpdatedData(
        referral_id=referral_id,
        partner_id=partner,
        direction=direction,
        from_state=from_state,
        state=to,
        actor_id="partner",
        changed_at=at,
    )
    return ReferralUpdated(occurred_at=at, data=data)
