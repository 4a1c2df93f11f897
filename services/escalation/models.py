"""Escalation's tables (own registry) and API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import (
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    StringConstraints,
    field_validator,
    model_validator,
)
from sqlalchemy import JSON, Column, LargeBinary, false
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.escalation.signing import public_key_from_text, public_key_text
from shared.audit import audit_tables
from shared.contracts import (
    TLP,
    Category,
    ConsentPurpose,
    EscalationAction,
    EscalationState,
    Priority,
    ReferralDirection,
    ReferralState,
    RequesterRole,
)
from shared.db import UTCDateTime
from shared.notify import notices_table


class EscalationBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


class TriagedCase(EscalationBase, table=True):
    """What escalation knows of a ticket from triage: enough to suggest an escalation."""

    __tablename__ = "triaged_cases"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    category: str
    priority: str
    flags: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    # The pseudonymous profile a referral carries (no name, no contact).
    requester_role: str = SQLField(
        default="unknown", sa_column_kwargs={"server_default": "unknown"}
    )
    country: str | None = None
    language: str | None = None
    triaged_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class TicketRequester(EscalationBase, table=True):
    """Whose ticket it is (ids only, from `ticket.received`): consent is per requester."""

    __tablename__ = "ticket_requesters"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    requester_id: uuid.UUID = SQLField(index=True)


class RequesterConsent(EscalationBase, table=True):
    """The latest consent record of a requester (from `consent.changed`)."""

    __tablename__ = "requester_consents"

    requester_id: uuid.UUID = SQLField(primary_key=True)
    share_with_platforms: bool
    share_with_partners: bool
    anonymous_statistics: bool = SQLField(
        default=False, sa_column_kwargs={"server_default": false()}
    )
    changed_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class Escalation(EscalationBase, table=True):
    """A request to a platform about a ticket, tracked to its outcome."""

    __tablename__ = "escalations"

    id: uuid.UUID = SQLField(primary_key=True)
    ticket_id: uuid.UUID = SQLField(index=True)
    platform: str
    action: str
    state: str
    violation_type: str | None = None
    # URLs, handles and evidence references, encrypted under the ticket's key (or, before
    # per-ticket keys, a key derived from the master named by content_key_id); None once erased.
    content_sealed: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary()))
    content_key_id: str
    content_erased_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    requires_approval: bool
    approved_by: str | None = None
    approved_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    platform_reference: str | None = None
    opened_by: str
    opened_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    submitted_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    acknowledged_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    resolved_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    response_due_at: datetime | None = SQLField(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )
    reminders_sent: int = 0
    updated_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class EscalationTransition(EscalationBase, table=True):
    """One move of an escalation, or its approval: who (token id) and when."""

    __tablename__ = "escalation_transitions"

    id: int | None = SQLField(default=None, primary_key=True)
    escalation_id: uuid.UUID = SQLField(index=True)
    from_state: str
    to_state: str
    # "approved" for a coordinator's approval; else the state machine's move.
    kind: str = "transition"
    actor_id: str
    at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class TicketKey(EscalationBase, table=True):
    """A ticket's data key, wrapped under the master key; None once the requester is erased."""

    __tablename__ = "ticket_keys"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    wrapped_key: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary()))


class Partner(EscalationBase, table=True):
    """A partner helpline: where and how to send it referrals, and the key it signs with."""

    __tablename__ = "partners"

    id: str = SQLField(primary_key=True)
    name: str
    endpoint: str
    # Url-safe base64 of the partner's Ed25519 public key (32 bytes).
    public_key: str
    services: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    languages: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    regions: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    # The bearer token the partner issued to this helpline, encrypted under a data key
    # of its own, wrapped under the master key and bound to token_key_id (keys.py).
    token_sealed: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary()))
    token_key_id: uuid.UUID | None = None
    token_wrapped_key: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary()))
    active: bool = True
    created_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class Referral(EscalationBase, table=True):
    """A referral to (outbound) or from (inbound) a partner; one id on both sides."""

    __tablename__ = "referrals"

    id: uuid.UUID = SQLField(primary_key=True)
    direction: str
    partner_id: str = SQLField(index=True)
    # Outbound: the ticket referred. Inbound: the ticket intake opens for it.
    ticket_id: uuid.UUID = SQLField(index=True)
    state: str
    category: str
    priority: str
    physical_risk: bool
    requester_role: str
    country: str | None = None
    languages: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    consents: dict[str, bool] = SQLField(sa_column=Column(JSON, nullable=False))
    tlp: str
    share_contact: bool = False
    # Summary, ask, actions taken and the safe contact (JSON), encrypted under the
    # ticket's key (keys.TICKET_KEY); None once erased.
    details_sealed: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary()))
    details_key_id: str
    details_erased_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    requires_approval: bool = False
    approved_by: str | None = None
    approved_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    created_by: str
    created_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    sent_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    updated_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class ReferralTransition(EscalationBase, table=True):
    """One move of a referral, or its approval: who (token id, or partner:<id>) and when."""

    __tablename__ = "referral_transitions"

    id: int | None = SQLField(default=None, primary_key=True)
    referral_id: uuid.UUID = SQLField(index=True)
    from_state: str
    to_state: str
    kind: str = "transition"
    actor_id: str
    at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class ReferralDelivery(EscalationBase, table=True):
    """A referral or status update to POST to a partner, tried until it is acknowledged."""

    __tablename__ = "referral_deliveries"

    id: int | None = SQLField(default=None, primary_key=True)
    referral_id: uuid.UUID = SQLField(index=True)
    # "referral" or "status".
    kind: str
    # For a status update: the state to report and when it was entered.
    report_state: str | None = None
    report_changed_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    # "due", "done", "failed" (given up, refused, or withdrawn).
    status: str = SQLField(index=True)
    attempts: int = 0
    next_attempt_at: datetime = SQLField(
        sa_column=Column(UTCDateTime(), nullable=False, index=True)
    )
    last_http_status: int | None = None
    # An error kind (exception type or problem slug), never a response body.
    last_error: str | None = None
    created_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    finished_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))


# --- API schemas ---------------------------------------------------------------

Ref = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2048)]


class ContentReferences(BaseModel):
    """What the platform needs to find the harm; personal-ish, so stored encrypted."""

    model_config = ConfigDict(extra="forbid")

    content_urls: list[Ref] = Field(default_factory=list, max_length=50)
    # The account's handle or id on the platform.
    account_handle: Annotated[str, StringConstraints(max_length=256)] | None = None
    evidence_refs: list[Ref] = Field(default_factory=list, max_length=50)


class EscalationCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: uuid.UUID
    platform: str = Field(max_length=32)
    action: EscalationAction
    # The platform's label; by default mapped from the ticket's category.
    violation_type: str | None = Field(default=None, max_length=100)
    content: ContentReferences = Field(default_factory=ContentReferences)


class TransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: EscalationState
    # The platform's case number, when it gives one.
    platform_reference: str | None = Field(default=None, max_length=200)


class TransitionPublic(BaseModel):
    from_state: EscalationState
    to_state: EscalationState
    kind: str
    actor_id: str
    at: datetime


class EscalationPublic(BaseModel):
    """An escalation without its content references (lists)."""

    id: uuid.UUID
    ticket_id: uuid.UUID
    platform: str
    action: EscalationAction
    state: EscalationState
    violation_type: str | None
    requires_approval: bool
    approved_by: str | None
    approved_at: datetime | None
    platform_reference: str | None
    opened_by: str
    opened_at: datetime
    submitted_at: datetime | None
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    response_due_at: datetime | None
    reminders_sent: int
    content_erased: bool


class EscalationDetail(EscalationPublic):
    """One escalation with its content references and every move."""

    content: ContentReferences | None
    transitions: list[TransitionPublic]


PartnerId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{1,63}$")]
Language = Annotated[str, StringConstraints(pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")]
# ISO 3166-1 alpha-2, or a UN M49 region code ("145": Western Asia).
Region = Annotated[str, StringConstraints(pattern=r"^([A-Z]{2}|[0-9]{3})$")]
PartnerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
PartnerToken = Annotated[SecretStr, Field(min_length=16, max_length=512)]


def _check_public_key(value: str) -> str:
    try:
        return public_key_text(public_key_from_text(value))
    except ValueError:
        raise ValueError("must be base64 of a 32-byte Ed25519 public key") from None


# Plain http only to this machine (development, two helplines side by side): a referral
# is a person's case, and it crosses the internet only over TLS.
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "::1", "[::1]", "localhost"})


def _check_endpoint(value: AnyHttpUrl) -> AnyHttpUrl:
    if value.scheme not in ("http", "https") or value.username or value.password:
        raise ValueError("must be an http(s) URL without credentials")
    if value.scheme == "http" and (value.host or "") not in _LOOPBACK_HOSTS:
        raise ValueError("must be https (plain http only to this machine)")
    return value


class PartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: PartnerId
    name: PartnerName
    # Where referrals are POSTed; status updates go to <endpoint>/<referral id>/status.
    endpoint: AnyHttpUrl
    public_key: str = Field(max_length=100)
    services: list[Category] = Field(default_factory=list, max_length=len(Category))
    languages: list[Language] = Field(default_factory=list, max_length=20)
    regions: list[Region] = Field(default_factory=list, max_length=100)
    # The bearer token the partner issued to this helpline; write-only.
    token: PartnerToken | None = None
    active: bool = True

    _key = field_validator("public_key")(_check_public_key)
    _url = field_validator("endpoint")(_check_endpoint)


class PartnerUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: PartnerName | None = None
    endpoint: AnyHttpUrl | None = None
    public_key: str | None = Field(default=None, max_length=100)
    services: list[Category] | None = Field(default=None, max_length=len(Category))
    languages: list[Language] | None = Field(default=None, max_length=20)
    regions: list[Region] | None = Field(default=None, max_length=100)
    token: PartnerToken | None = None
    active: bool | None = None

    @field_validator("public_key")
    @classmethod
    def _key(cls, value: str | None) -> str | None:
        return None if value is None else _check_public_key(value)

    @field_validator("endpoint")
    @classmethod
    def _url(cls, value: AnyHttpUrl | None) -> AnyHttpUrl | None:
        return None if value is None else _check_endpoint(value)


class PartnerPublic(BaseModel):
    """A partner as listed: never its token, only whether one is held."""

    id: str
    name: str
    endpoint: str
    public_key: str
    key_fingerprint: str
    services: list[Category]
    languages: list[str]
    regions: list[str]
    has_token: bool
    active: bool
    created_at: datetime
    updated_at: datetime


Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
ChannelName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,31}$")]


class ReferralCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ticket_id: uuid.UUID
    partner_id: PartnerId
    # The handler's summary of the case: what the partner needs, no more.
    summary: Annotated[Text, StringConstraints(max_length=8000)]
    actions_taken: list[Annotated[Text, StringConstraints(max_length=1000)]] = Field(
        default_factory=list, max_length=30
    )
    # What is asked of the partner.
    ask: Annotated[Text, StringConstraints(max_length=2000)]
    tlp: TLP = TLP.amber
    # Share a safe way to reach the person; sent only if their consent allows it.
    share_contact: bool = False
    contact_channel: ChannelName | None = None
    contact: Annotated[Text, StringConstraints(max_length=256)] | None = None

    @model_validator(mode="after")
    def _contact_given(self) -> ReferralCreate:
        if self.share_contact and (self.contact_channel is None or self.contact is None):
            raise ValueError("share_contact needs contact_channel and contact")
        return self


class ReferralDetails(BaseModel):
    """A referral's free text: stored encrypted, shown to handlers only."""

    model_config = ConfigDict(extra="forbid")

    summary: str
    ask: str | None = None
    actions_taken: list[str] = Field(default_factory=list)
    contact_channel: str | None = None
    contact: str | None = None


class ReferralTransitionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: ReferralState


class ReferralPublic(BaseModel):
    """A referral without its free text (lists, partners)."""

    id: uuid.UUID
    direction: ReferralDirection
    partner_id: str
    ticket_id: uuid.UUID
    state: ReferralState
    category: Category
    priority: Priority
    physical_risk: bool
    requester_role: RequesterRole
    country: str | None
    languages: list[str]
    tlp: TLP
    requires_approval: bool
    approved_at: datetime | None
    created_at: datetime
    sent_at: datetime | None
    updated_at: datetime
    details_erased: bool


class DeliveryPublic(BaseModel):
    kind: str
    report_state: ReferralState | None
    status: str
    attempts: int
    next_attempt_at: datetime
    last_http_status: int | None
    last_error: str | None


class TransitionPublicReferral(BaseModel):
    from_state: ReferralState
    to_state: ReferralState
    kind: str
    actor_id: str
    at: datetime


class ReferralDetail(ReferralPublic):
    """One referral with its free text, consents, moves and deliveries (handlers)."""

    details: ReferralDetails | None
    consents: dict[ConsentPurpose, bool]
    share_contact: bool
    approved_by: str | None
    created_by: str
    transitions: list[TransitionPublicReferral]
    deliveries: list[DeliveryPublic]


class InboundReferralBody(BaseModel):
    """What a partner POSTs: a compact JWS (signing.py) over a JSON-IODEF document (iodef.py)."""

    model_config = ConfigDict(extra="forbid")

    jws: str = Field(min_length=1, max_length=192 * 1024)


class SigningKeyPublic(BaseModel):
    """This helpline's identity and public key, as a partner registers it."""

    helpline_id: str
    name: str
    algorithm: str
    public_key: str
    kid: str


# Who read or changed which case (shared.audit): ids only, hash-chained.
AUDIT_TABLES = audit_tables(EscalationBase.metadata)
# Reminders waiting for the notification hook (shared.notify).
NOTICES = notices_table(EscalationBase.metadata)
