"""THE contract between services: streams, subjects, the event envelope and payloads.

Every event is a frozen envelope whose `type` is also its NATS subject
(`sanad.<producer>.<thing>.<verb>`). Payloads carry ids, categories and
timings; personal text travels only sealed for the one service allowed to
read it (see `shared.crypto.seal`). A breaking change is a new event type.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Literal, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

SUBJECT_ROOT = "sanad"
DLQ_PREFIX = f"{SUBJECT_ROOT}.dlq"


class ContractError(ValueError):
    """A message that is not a valid event of this contract."""


# --- vocabulary shared by the services (taxonomy.md) -------------------------


class Channel(StrEnum):
    web = "web"
    email = "email"
    whatsapp = "whatsapp"
    signal = "signal"
    api = "api"
    referral = "referral"


class RequesterRole(StrEnum):
    journalist = "journalist"
    activist = "activist"
    hrd = "hrd"
    lgbtq = "lgbtq"
    civil_society = "civil_society"
    private_person = "private_person"
    unknown = "unknown"


class Category(StrEnum):
    account_compromise = "account_compromise"
    account_suspension = "account_suspension"
    impersonation = "impersonation"
    doxxing = "doxxing"
    threats = "threats"
    harassment = "harassment"
    sextortion = "sextortion"
    defamation = "defamation"
    device_compromise = "device_compromise"
    surveillance = "surveillance"
    phishing = "phishing"
    device_seizure = "device_seizure"
    entrapment = "entrapment"
    website_attack = "website_attack"
    censorship = "censorship"
    advice = "advice"
    out_of_scope = "out_of_scope"


class Flag(StrEnum):
    physical_threat = "physical_threat"
    detained = "detained"
    gbv = "gbv"
    lgbtq_targeting = "lgbtq_targeting"
    minor = "minor"
    ongoing = "ongoing"


class Priority(StrEnum):
    P1 = "P1"
    P2 = "P2"
    P3 = "P3"
    P4 = "P4"


# --- streams -----------------------------------------------------------------


class TicketStatus(StrEnum):
    new = "new"
    open = "open"
    waiting_on_requester = "waiting_on_requester"
    resolved = "resolved"
    closed = "closed"


class Author(StrEnum):
    requester = "requester"
    handler = "handler"


class Outcome(StrEnum):
    """How a case ended: what reports count, never why in words."""

    resolved = "resolved"
    referred = "referred"
    escalated = "escalated"
    advice_given = "advice_given"
    no_response = "no_response"
    out_of_scope = "out_of_scope"
    duplicate = "duplicate"
    declined = "declined"


class ConsentPurpose(StrEnum):
    share_with_platforms = "share_with_platforms"
    share_with_partners = "share_with_partners"
    anonymous_statistics = "anonymous_statistics"


class StreamSpec(BaseModel):
    """A JetStream stream with explicit retention limits."""

    model_config = ConfigDict(frozen=True)

    name: str
    subjects: tuple[str, ...]
    max_age: timedelta = timedelta(days=7)
    max_bytes: int = 1 << 30
    max_msgs: int = 5_000_000
    max_msg_size: int = 1 << 20
    duplicate_window: timedelta = timedelta(minutes=10)


def _producer_stream(producer: str) -> StreamSpec:
    return StreamSpec(name=f"SANAD_{producer.upper()}", subjects=(f"{SUBJECT_ROOT}.{producer}.>",))


STREAMS: tuple[StreamSpec, ...] = (
    _producer_stream("intake"),
    _producer_stream("triage"),
    _producer_stream("escalation"),
    # Dead letters are kept longer: a person has to look at each one.
    StreamSpec(name="SANAD_DLQ", subjects=(f"{DLQ_PREFIX}.>",), max_age=timedelta(days=30)),
)


def dlq_subject(service: str) -> str:
    return f"{DLQ_PREFIX}.{service}"


def stream_for(subject: str) -> StreamSpec:
    """The stream that captures `subject`."""
    for spec in STREAMS:
        for pattern in spec.subjects:
            if subject.startswith(pattern.removesuffix(">")):
                return spec
    raise ContractError(f"no stream captures subject {subject!r}")


# --- the envelope ------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


class Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(BaseModel):
    """What every event carries around its payload."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    schema_version: int = 1
    occurred_at: datetime = Field(default_factory=_now)
    producer: str
    ticket_id: uuid.UUID | None = None
    data: Payload

    @property
    def subject(self) -> str:
        return self.type


# --- intake ------------------------------------------------------------------


class TicketReceivedData(Payload):
    reference: str
    requester_id: uuid.UUID
    channel: Channel
    requester_role: RequesterRole
    declared_language: str | None = None
    country: str | None = None
    received_at: datetime
    # The message text sealed for triage alone (shared.crypto.seal); opaque to others.
    sealed_text: str


class TicketReceived(Envelope):
    type: Literal["sanad.intake.ticket.received"] = "sanad.intake.ticket.received"
    producer: Literal["intake"] = "intake"
    data: TicketReceivedData


class TicketMessageAddedData(Payload):
    message_id: uuid.UUID
    author: Author
    channel: Channel
    # A note between handlers, never sent to the requester (it stops no SLA clock).
    internal: bool = False
    # A requester's words sealed for triage alone (re-triage); None for handler messages.
    sealed_text: str | None = None
    added_at: datetime


class TicketMessageAdded(Envelope):
    """A message joined a ticket: from the requester, or a handler's reply or note."""

    type: Literal["sanad.intake.ticket.message_added"] = "sanad.intake.ticket.message_added"
    producer: Literal["intake"] = "intake"
    data: TicketMessageAddedData


class TicketStatusChangedData(Payload):
    from_status: TicketStatus
    to_status: TicketStatus
    # The token id of the handler, or "requester" / "system".
    actor_id: str
    changed_at: datetime


class TicketStatusChanged(Envelope):
    type: Literal["sanad.intake.ticket.status_changed"] = "sanad.intake.ticket.status_changed"
    producer: Literal["intake"] = "intake"
    data: TicketStatusChangedData


class TicketClosedData(Payload):
    outcome: Outcome
    actor_id: str
    closed_at: datetime


class TicketClosed(Envelope):
    type: Literal["sanad.intake.ticket.closed"] = "sanad.intake.ticket.closed"
    producer: Literal["intake"] = "intake"
    data: TicketClosedData


class ConsentChangedData(Payload):
    requester_id: uuid.UUID
    # Every purpose, each granted or not: the latest event is the whole record.
    consents: dict[ConsentPurpose, bool]
    wording_version: str
    # web, email, whatsapp, signal, handler, referral: where the person said it.
    source: str
    changed_at: datetime


class ConsentChanged(Envelope):
    """What the requester agreed to, per purpose; nothing leaves Sanad without it."""

    type: Literal["sanad.intake.consent.changed"] = "sanad.intake.consent.changed"
    producer: Literal["intake"] = "intake"
    data: ConsentChangedData


class RequesterErasedData(Payload):
    requester_id: uuid.UUID
    # Every ticket of the requester: consumers drop what they derived from them.
    ticket_ids: tuple[uuid.UUID, ...] = ()
    erased_at: datetime


class RequesterErased(Envelope):
    """A requester's data key was destroyed: their name, contact and text are gone for good."""

    type: Literal["sanad.intake.requester.erased"] = "sanad.intake.requester.erased"
    producer: Literal["intake"] = "intake"
    data: RequesterErasedData


# --- triage ------------------------------------------------------------------


class TicketTriagedData(Payload):
    category: Category
    secondary_categories: tuple[Category, ...] = ()
    flags: tuple[Flag, ...] = ()
    priority: Priority
    language: str
    confidence: float = Field(ge=0.0, le=1.0)
    needs_review: bool
    # Rule ids only: the words that fired stay in triage, they may quote the person.
    rule_ids: tuple[str, ...] = ()
    requester_role: RequesterRole
    channel: Channel
    country: str | None = None
    received_at: datetime
    triaged_at: datetime


class TicketTriaged(Envelope):
    type: Literal["sanad.triage.ticket.triaged"] = "sanad.triage.ticket.triaged"
    producer: Literal["triage"] = "triage"
    data: TicketTriagedData


class RepriorityReason(StrEnum):
    """Why a triage changed after the fact: a handler said so, or a new message did."""

    override = "override"
    retriage = "retriage"


class TicketReprioritisedData(Payload):
    reason: RepriorityReason
    from_priority: Priority
    priority: Priority
    from_category: Category
    category: Category
    flags: tuple[Flag, ...] = ()
    # The handler's token id, or "triage" for a re-triage; never the handler's own words.
    actor_id: str
    # The first-response due time under the new priority (None once answered or closed).
    sla_due_at: datetime | None = None
    changed_at: datetime


class TicketReprioritised(Envelope):
    """A ticket's category, flags or priority changed after its first triage."""

    type: Literal["sanad.triage.ticket.reprioritised"] = "sanad.triage.ticket.reprioritised"
    producer: Literal["triage"] = "triage"
    data: TicketReprioritisedData


class SlaLevel(StrEnum):
    """How far into its first-response target an unanswered ticket is."""

    warning = "warning"  # half the target gone
    breached = "breached"  # the target missed
    alert = "alert"  # one and a half times the target: a coordinator steps in


class SlaBreachedData(Payload):
    level: SlaLevel
    # 50, 100 or 150: the share of the target elapsed when this level was reached.
    percent: int
    priority: Priority
    target_seconds: int
    received_at: datetime
    due_at: datetime
    detected_at: datetime


class SlaBreached(Envelope):
    """A ticket's first-response clock crossed a level; each level is announced once."""

    type: Literal["sanad.triage.sla.breached"] = "sanad.triage.sla.breached"
    producer: Literal["triage"] = "triage"
    data: SlaBreachedData


class TicketAssignedData(Payload):
    # A roster id (triage's handler roster), never the handler's name.
    handler_id: str | None
    previous_handler_id: str | None = None
    # True when triage chose the handler (language, expertise, load); False for a person's choice.
    automatic: bool
    # The token id of whoever assigned, or "triage" for an automatic assignment.
    actor_id: str
    assigned_at: datetime


class TicketAssigned(Envelope):
    """A ticket has a new handler (or none: `handler_id` None means unassigned)."""

    type: Literal["sanad.triage.ticket.assigned"] = "sanad.triage.ticket.assigned"
    producer: Literal["triage"] = "triage"
    data: TicketAssignedData


class LeadPagedData(Payload):
    # The roster id of the shift lead paged, or None when no lead is on shift (the
    # notification hook still fires, so a coordinator hears of it).
    lead_id: str | None
    priority: Priority
    # Why: "p1" for a new P1 ticket; room for other reasons without a new event.
    reason: str = Field(max_length=32)
    paged_at: datetime


class LeadPaged(Envelope):
    """Triage paged the on-shift lead about a ticket (a P1 arrived)."""

    type: Literal["sanad.triage.lead.paged"] = "sanad.triage.lead.paged"
    producer: Literal["triage"] = "triage"
    data: LeadPagedData


# --- escalation --------------------------------------------------------------


class EscalationState(StrEnum):
    """Where an escalation to a platform stands."""

    drafted = "drafted"
    submitted = "submitted"
    acknowledged = "acknowledged"
    info_requested = "info_requested"
    actioned = "actioned"
    refused = "refused"
    refused_risk_unclear = "refused_risk_unclear"
    no_response = "no_response"


class EscalationAction(StrEnum):
    """What a helpline asks a platform to do."""

    take_down = "take_down"
    restore_account = "restore_account"
    secure_account = "secure_account"
    remove_impersonation = "remove_impersonation"
    preserve_evidence = "preserve_evidence"


class EscalationOpenedData(Payload):
    escalation_id: uuid.UUID
    # A platform id from escalation's registry (meta, x, tiktok, ...).
    platform: str
    action: EscalationAction
    state: EscalationState
    requires_approval: bool
    opened_at: datetime


class EscalationOpened(Envelope):
    """A handler drafted an escalation of a ticket to a platform."""

    type: Literal["sanad.escalation.escalation.opened"] = "sanad.escalation.escalation.opened"
    producer: Literal["escalation"] = "escalation"
    data: EscalationOpenedData


class EscalationUpdatedData(Payload):
    escalation_id: uuid.UUID
    platform: str
    action: EscalationAction
    from_state: EscalationState
    state: EscalationState
    approved: bool
    # True when nothing changed but the platform has been silent past its expected time.
    reminder: bool = False
    reminders_sent: int = 0
    # When the platform's answer is due (for a reminder: the time it let pass);
    # None when nothing is awaited from it.
    response_due_at: datetime | None = None
    changed_at: datetime


class EscalationUpdated(Envelope):
    """An escalation moved, was approved, or is overdue at its platform (`reminder`)."""

    type: Literal["sanad.escalation.escalation.updated"] = "sanad.escalation.escalation.updated"
    producer: Literal["escalation"] = "escalation"
    data: EscalationUpdatedData


class EscalationResolvedData(Payload):
    escalation_id: uuid.UUID
    platform: str
    action: EscalationAction
    # One of the final states: actioned, refused, refused_risk_unclear, no_response.
    outcome: EscalationState
    submitted_at: datetime
    acknowledged_at: datetime | None = None
    resolved_at: datetime
    seconds_to_acknowledgement: int | None = None
    seconds_to_outcome: int


class EscalationResolved(Envelope):
    """An escalation reached its outcome; a reopened one may resolve again."""

    type: Literal["sanad.escalation.escalation.resolved"] = "sanad.escalation.escalation.resolved"
    producer: Literal["escalation"] = "escalation"
    data: EscalationResolvedData


class ReferralDirection(StrEnum):
    outbound = "outbound"  # this helpline referred a case to a partner
    inbound = "inbound"  # a partner referred a case to this helpline


class ReferralState(StrEnum):
    """Where a referral between helplines stands (the same words on both sides)."""

    pending = "pending"  # built, waiting for approval or for the partner to acknowledge receipt
    sent = "sent"  # the partner acknowledged receipt
    accepted = "accepted"
    declined = "declined"
    closed = "closed"
    withdrawn = "withdrawn"  # stopped before it reached the partner (consent revoked, cancelled)


class TLP(StrEnum):
    """Traffic Light Protocol 2.0 markings."""

    clear = "TLP:CLEAR"
    green = "TLP:GREEN"
    amber = "TLP:AMBER"
    amber_strict = "TLP:AMBER+STRICT"
    red = "TLP:RED"


class ReferralSentData(Payload):
    referral_id: uuid.UUID
    # A partner id from escalation's partner registry.
    partner_id: str
    category: Category
    priority: Priority
    tlp: TLP
    # How many deliveries it took before the partner acknowledged receipt.
    attempts: int = Field(ge=1)
    created_at: datetime
    sent_at: datetime


class ReferralSent(Envelope):
    """A partner helpline acknowledged receipt of a referral from this helpline."""

    type: Literal["sanad.escalation.referral.sent"] = "sanad.escalation.referral.sent"
    producer: Literal["escalation"] = "escalation"
    data: ReferralSentData


class ReferralReceivedData(Payload):
    referral_id: uuid.UUID
    partner_id: str
    category: Category
    priority: Priority
    physical_risk: bool
    requester_role: RequesterRole
    country: str | None = None
    languages: tuple[str, ...] = ()
    # The consent the referring helpline recorded, per purpose.
    consents: dict[ConsentPurpose, bool]
    tlp: TLP
    # The partner's summary and the safe contact (if shared), sealed for intake alone:
    # the sealed JSON object {"summary": str, "contact_channel": str|None, "contact": str|None}.
    sealed_details: str
    received_at: datetime


class ReferralReceived(Envelope):
    """A partner helpline referred a case here; `ticket_id` is the ticket intake opens for it."""

    type: Literal["sanad.escalation.referral.received"] = "sanad.escalation.referral.received"
    producer: Literal["escalation"] = "escalation"
    data: ReferralReceivedData


class ReferralUpdatedData(Payload):
    referral_id: uuid.UUID
    partner_id: str
    direction: ReferralDirection
    from_state: ReferralState
    state: ReferralState
    # The token id of whoever moved it, "partner" when the partner did, or "escalation".
    actor_id: str
    changed_at: datetime


class ReferralUpdated(Envelope):
    """A referral changed state (accepted, declined, closed, withdrawn)."""

    type: Literal["sanad.escalation.referral.updated"] = "sanad.escalation.referral.updated"
    producer: Literal["escalation"] = "escalation"
    data: ReferralUpdatedData


# --- the union and its codec -------------------------------------------------

Event: TypeAlias = Annotated[
    TicketReceived
    | TicketMessageAdded
    | TicketStatusChanged
    | TicketClosed
    | ConsentChanged
    | RequesterErased
    | TicketTriaged
    | TicketReprioritised
    | SlaBreached
    | TicketAssigned
    | LeadPaged
    | EscalationOpened
    | EscalationUpdated
    | EscalationResolved
    | ReferralSent
    | ReferralReceived
    | ReferralUpdated,
    Field(discriminator="type"),
]
EVENT_TYPES: tuple[type[Envelope], ...] = (
    TicketReceived,
    TicketMessageAdded,
    TicketStatusChanged,
    TicketClosed,
    ConsentChanged,
    RequesterErased,
    TicketTriaged,
    TicketReprioritised,
    SlaBreached,
    TicketAssigned,
    LeadPaged,
    EscalationOpened,
    EscalationUpdated,
    EscalationResolved,
    ReferralSent,
    ReferralReceived,
    ReferralUpdated,
)


def subject_of(cls: type[Envelope]) -> str:
    """The subject (and `type`) of an event class."""
    return str(cls.model_fields["type"].default)


SUBJECTS: tuple[str, ...] = tuple(subject_of(cls) for cls in EVENT_TYPES)

_event_adapter: TypeAdapter[Event] = TypeAdapter(Event)


def encode(event: Envelope) -> bytes:
    """Serialise an event for the bus."""
    return event.model_dump_json().encode()


def decode(raw: bytes, *, subject: str | None = None) -> Event:
    """Parse bytes from the bus; any defect raises ContractError."""
    try:
        event = _event_adapter.validate_json(raw)
    except ValidationError as exc:
        # Only the error locations and kinds: the input may hold personal text.
        where = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['type']}" for e in exc.errors())
        raise ContractError(f"invalid event: {where}") from None
    if subject is not None and event.type != subject:
        raise ContractError(f"event type {event.type!r} arrived on subject {subject!r}")
    return event


def event_json_schema(cls: type[Envelope]) -> dict[str, object]:
    """The JSON Schema of one event type, as committed under tests/contract/schemas."""
    return cls.model_json_schema(mode="serialization")
