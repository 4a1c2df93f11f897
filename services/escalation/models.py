"""Escalation's tables (own registry) and API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from sqlalchemy import JSON, Column, LargeBinary
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from shared.audit import audit_tables
from shared.contracts import EscalationAction, EscalationState
from shared.db import UTCDateTime


class EscalationBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


class TriagedCase(EscalationBase, table=True):
    """What escalation knows of a ticket from triage: enough to suggest an escalation."""

    __tablename__ = "triaged_cases"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    category: str
    priority: str
    flags: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
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
    # URLs, handles and evidence references, encrypted (keys.py); None once erased.
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


# Who read or changed which case (shared.audit): ids only, hash-chained.
AUDIT_TABLES = audit_tables(EscalationBase.metadata)
