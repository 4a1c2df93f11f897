"""Triage's tables (own registry) and API schemas."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import JSON, Column, LargeBinary, false
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from shared.audit import audit_tables
from shared.contracts import Category, Channel, Flag, Priority, RequesterRole, SlaLevel
from shared.db import UTCDateTime
from shared.notify import notices_table


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
    # Written in clear before reasons were encrypted; sealed into `reason_sealed` at start.
    reason: str | None = None
    # A handler's own words, which may name people: encrypted under the ticket's key
    # (keys.py), shown to staff through this API only, never in events, logs or exports.
    reason_sealed: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary))
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


class TicketKey(TriageBase, table=True):
    """A ticket's data key, wrapped under the master key; deleted when the requester is erased."""

    __tablename__ = "ticket_keys"

    # `ticket_id` is also the wrap's associated data, as shared.keyrotation expects.
    ticket_id: uuid.UUID = SQLField(primary_key=True)
    wrapped_key: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary))


class Handler(TriageBase, table=True):
    """One person on the roster: who reads which language, knows which category, takes how many."""

    __tablename__ = "handlers"

    handler_id: str = SQLField(primary_key=True)
    label: str
    languages: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    expertise: list[str] = SQLField(sa_column=Column(JSON, nullable=False))
    max_open: int
    available: bool
    # The API token this handler uses, so that they may take a ticket for themselves.
    token_id: str | None = SQLField(default=None, unique=True)
    # Working hours ({"days": [...], "start": "HH:MM", "end": "HH:MM"}) in `time_zone`;
    # none means always on shift.
    shifts: list[dict[str, Any]] = SQLField(
        default_factory=list, sa_column=Column(JSON, nullable=False, server_default="[]")
    )
    time_zone: str = SQLField(default="UTC", sa_column_kwargs={"server_default": "UTC"})
    # A shift lead: paged when a P1 ticket arrives while they are on shift.
    lead: bool = SQLField(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))
    updated_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class Assignment(TriageBase, table=True):
    """Who holds a triaged ticket now (None: nobody); `open` until it is closed or erased."""

    __tablename__ = "assignments"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    handler_id: str | None = SQLField(default=None, index=True)
    open: bool = SQLField(default=True, index=True)
    automatic: bool
    # The token id of whoever assigned, or "triage".
    actor_id: str
    assigned_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class AssignmentChange(TriageBase, table=True):
    """Every change of a ticket's handler, with the optional reason encrypted."""

    __tablename__ = "assignment_changes"

    id: int | None = SQLField(default=None, primary_key=True)
    ticket_id: uuid.UUID = SQLField(index=True)
    handler_id: str | None = None
    previous_handler_id: str | None = None
    automatic: bool
    actor_id: str
    reason_sealed: bytes | None = SQLField(default=None, sa_column=Column(LargeBinary))
    changed_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


class LeadPage(TriageBase, table=True):
    """A ticket's P1 page (once per ticket); the webhook's copy waits in NOTICES."""

    __tablename__ = "lead_pages"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    lead_id: str | None = None
    priority: str
    reason: str
    paged_at: datetime = SQLField(sa_column=Column(UTCDateTime(), nullable=False))


# Lead pages waiting for the notification hook (shared.notify).
NOTICES = notices_table(TriageBase.metadata)


# Who read or changed which ticket's triage (shared.audit): ids only, hash-chained.
AUDIT_TABLES = audit_tables(TriageBase.metadata)


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


class AssignmentChangePublic(BaseModel):
    handler_id: str | None
    previous_handler_id: str | None
    automatic: bool
    actor_id: str
    reason: str | None
    changed_at: datetime


class AssignmentPublic(BaseModel):
    handler_id: str | None
    automatic: bool
    actor_id: str
    assigned_at: datetime
    open: bool
    history: list[AssignmentChangePublic]


class TriageDetail(TriagePublic):
    """The triage, what the classifier first said, every change since, and the SLA clock."""

    classifier: Label
    changes: list[ChangePublic]
    suggestion: SuggestionPublic | None
    sla: SlaPublic | None
    assignment: AssignmentPublic | None = None


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


# --- roster and assignment ----------------------------------------------------------

SLUG = r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$"
# Taxonomy codes (ar, ar-Latn, fr, en) and the other languages triage detects (fa, ckb, tr...).
_LANGUAGE = r"^[a-z]{2,3}(?:-Latn)?$"
Language = Annotated[str, Field(pattern=_LANGUAGE)]
_TOKEN_ID = r"^[A-Za-z0-9_-]{1,16}$"  # noqa: S105 - the shape of a token's public id


def _unique(values: list[Any] | None) -> list[Any] | None:
    if values is not None and len(set(values)) != len(values):
        raise ValueError("each value may appear once")
    return values


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
_HHMM = r"^(?:[01][0-9]|2[0-3]):[0-5][0-9]$"


class ShiftSpec(BaseModel):
    """Hours on some weekdays in the handler's time zone; `end` <= `start` runs overnight."""

    model_config = ConfigDict(extra="forbid")

    days: list[Weekday] = Field(min_length=1, max_length=7)
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)

    @field_validator("days")
    @classmethod
    def _once(cls, values: list[str]) -> list[str]:
        return _unique(values) or []


def _check_zone(value: str | None) -> str | None:
    if value is None:
        return None
    # zoneinfo reads paths: refuse anything but an IANA-shaped key before it looks.
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+){0,2}", value):
        raise ValueError("not an IANA time zone")
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("not an IANA time zone") from None
    return value


class HandlerFields(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str = Field(min_length=1, max_length=80)
    languages: list[Language] = Field(min_length=1, max_length=12)
    expertise: list[Category] = Field(default_factory=list, max_length=len(Category))
    max_open: int = Field(default=10, ge=1, le=500)
    available: bool = True
    token_id: str | None = Field(default=None, pattern=_TOKEN_ID)
    shifts: list[ShiftSpec] = Field(default_factory=list, max_length=21)
    time_zone: str = Field(default="UTC", max_length=64)
    lead: bool = False

    @field_validator("languages", "expertise")
    @classmethod
    def _once(cls, values: list[Any]) -> list[Any]:
        return _unique(values) or []

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _check_zone(value) or "UTC"


class HandlerCreate(HandlerFields):
    """A new roster entry; `handler_id` is a slug, never a name (it travels in events)."""

    handler_id: str = Field(pattern=SLUG)


class HandlerUpdate(BaseModel):
    """Only the fields given change; `token_id` null unlinks the token."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    label: str | None = Field(default=None, min_length=1, max_length=80)
    languages: list[Language] | None = Field(default=None, min_length=1, max_length=12)
    expertise: list[Category] | None = Field(default=None, max_length=len(Category))
    max_open: int | None = Field(default=None, ge=1, le=500)
    available: bool | None = None
    token_id: str | None = Field(default=None, pattern=_TOKEN_ID)
    shifts: list[ShiftSpec] | None = Field(default=None, max_length=21)
    time_zone: str | None = Field(default=None, max_length=64)
    lead: bool | None = None

    @field_validator("languages", "expertise")
    @classmethod
    def _once(cls, values: list[Any] | None) -> list[Any] | None:
        return _unique(values)

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str | None) -> str | None:
        return _check_zone(value)

    @model_validator(mode="after")
    def _null_only_unlinks(self) -> HandlerUpdate:
        given_null = {k for k in self.model_fields_set if getattr(self, k) is None}
        if given_null - {"token_id"}:
            raise ValueError(f"{', '.join(sorted(given_null - {'token_id'}))} cannot be null")
        return self


class HandlerPublic(BaseModel):
    handler_id: str
    label: str
    languages: list[str]
    expertise: list[Category]
    max_open: int
    available: bool
    token_id: str | None
    shifts: list[ShiftSpec]
    time_zone: str
    lead: bool
    # Available and within a shift at the time of the answer: what assignment looks at.
    on_shift: bool
    open_tickets: int
    created_at: datetime
    updated_at: datetime


class AssignmentRequest(BaseModel):
    """A handler for the ticket (null: unassigned), with an optional reason kept encrypted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    handler_id: str | None = Field(pattern=SLUG)
    reason: str | None = Field(default=None, min_length=1, max_length=2_000)


class HandlerLoad(BaseModel):
    handler_id: str
    label: str
    available: bool
    max_open: int
    open: int
    by_priority: dict[Priority, int]


class Workload(BaseModel):
    """Open tickets per handler and per priority, and those nobody holds."""

    handlers: list[HandlerLoad]
    unassigned: int
    unassigned_by_priority: dict[Priority, int]


class QueueItem(BaseModel):
    """One open ticket in the queue: ids, priority, category, due time, holder; no text."""

    ticket_id: uuid.UUID
    priority: Priority
    category: Category
    needs_review: bool
    sla_state: str | None
    due_at: datetime | None
    received_at: datetime
    handler_id: str | None


class QueuePage(BaseModel):
    items: list[QueueItem]
    # Pass as `offset` for the next page; None on the last one.
    next_offset: int | None
