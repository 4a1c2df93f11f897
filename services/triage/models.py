"""Triage's tables (own registry) and API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Column
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from shared.contracts import Category, Channel, Flag, Priority, RequesterRole, SlaLevel
from shared.db import UTCDateTime


class TriageBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


class TriageRecord(TriageBase, table=True):
    __tablename__ = "triage"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    category: str = SQLField(index=True)
    secondary: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    flags: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    priority: str = SQLField(index=True)
    language: str
    confidence: float
    needs_review: bool
    # Lexicon terms and rules only: never the person's own words.
    reasons: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    requester_role: str
    channel: str
    country: str | None = None
    received_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    triaged_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    # What the classifier said at first, kept when a handler overrides it (labelled data).
    classifier_category: str | None = None
    classifier_flags: list[str] | None = SQLField(default=None, sa_column=Column(JSON))
    classifier_priority: str | None = None
    # A re-triage that would lower the priority is only suggested: category, flags,
    # priority, reasons (lexicon terms and rules), message id and time.
    suggestion: dict[str, Any] | None = SQLField(default=None, sa_column=Column(JSON))


class TriageChange(TriageBase, table=True):
    """One change after the first triage: a handler's override or an applied re-triage."""

    __tablename__ = "triage_changes"

    id: int | None = SQLField(default=None, primary_key=True)
    ticket_id: uuid.UUID = SQLField(index=True)
    source: str  # RepriorityReason
    # The handler's token id, or "triage".
    actor_id: str
    from_category: str
    from_flags: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    from_priority: str
    category: str
    flags: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    priority: str
    # A handler's own words, which may name people: shown to staff through this API only,
    # never put in events, logs or exports, and dropped when the requester is erased.
    reason: str | None = None
    changed_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False, index=True))


class SlaClock(TriageBase, table=True):
    """A ticket's first-response clock; every time is stored, so a restart loses nothing."""

    __tablename__ = "sla_clocks"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    state: str  # sla.ClockState
    priority: str | None = None
    received_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    due_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    paused_seconds: float = 0.0
    paused_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    stopped_at: datetime | None = SQLField(default=None, sa_column=Column(UTCDateTime()))
    # Levels already announced (sla.breached), so each goes out once.
    emitted: list[str] = SQLField(default_factory=list, sa_column=Column(JSON, nullable=False))
    # When the periodic check must next look at this clock; None when nothing can fall due.
    next_check_at: datetime | None = SQLField(
        default=None, sa_column=Column(UTCDateTime(), index=True)
    )


class ClassifyRequest(BaseModel):
    """The same fields as a ticket; nothing is stored."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=20_000)
    channel: Channel = Channel.api
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    requester_role: RequesterRole = RequesterRole.unknown
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    requester_name: str | None = Field(default=None, max_length=200)
    contact: dict[str, str] | None = None


class ClassificationPublic(BaseModel):
    category: Category
    secondary_categories: list[Category]
    flags: list[Flag]
    priority: Priority
    language: str
    confidence: float
    needs_review: bool
    reasons: list[str]


class ClassifyResponse(ClassificationPublic):
    """A dry run also names the platforms and every language it saw."""

    platforms: list[str]
    languages: list[str]


class TriagePublic(ClassificationPublic):
    ticket_id: uuid.UUID
    received_at: datetime
    triaged_at: datetime


class OverrideRequest(BaseModel):
    """A handler's decision; the reason stays in triage."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    category: Category
    flags: list[Flag] = Field(default_factory=list, max_length=len(Flag))
    priority: Priority
    reason: str = Field(min_length=1, max_length=2_000)


class Label(BaseModel):
    category: Category
    flags: list[Flag]
    priority: Priority


class ChangePublic(Label):
    source: str
    actor_id: str
    from_category: Category
    from_flags: list[Flag]
    from_priority: Priority
    reason: str | None
    changed_at: datetime


class SuggestionPublic(Label):
    reasons: list[str]
    message_id: uuid.UUID
    suggested_at: datetime


class SlaPublic(BaseModel):
    ticket_id: uuid.UUID
    state: str
    priority: Priority | None
    received_at: datetime | None
    due_at: datetime | None
    paused_seconds: float
    percent_elapsed: float
    level: SlaLevel | None
    stopped_at: datetime | None


class TriageDetail(TriagePublic):
    """The triage, what the classifier first said, every change since, and the SLA clock."""

    classifier: Label
    changes: list[ChangePublic]
    suggestion: SuggestionPublic | None
    sla: SlaPublic | None


class OverrideExportRow(BaseModel):
    """One override as labelled data: ids and labels, never text."""

    ticket_id: uuid.UUID
    language: str
    classifier_category: Category
    classifier_flags: list[Flag]
    classifier_priority: Priority
    label_category: Category
    label_flags: list[Flag]
    label_priority: Priority
    overridden_at: datetime
