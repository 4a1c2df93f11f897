"""Intake's tables (own registry) and API schemas. Personal fields are stored only encrypted."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Column, Index, LargeBinary, false
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.intake.domain import CONSENT_WORDINGS
from shared.audit import audit_tables
from shared.contracts import (
    Author,
    Category,
    Channel,
    ConsentPurpose,
    Outcome,
    Priority,
    RequesterRole,
    TicketStatus,
)
from shared.db import UTCDateTime


class IntakeBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


def _ts() -> Column[datetime]:
    return Column(UTCDateTime(), nullable=False)


def _ts_or_none() -> Column[datetime]:
    return Column(UTCDateTime(), nullable=True)


def _blob_or_none() -> Column[bytes]:
    return Column(LargeBinary, nullable=True)


class ContactChannel(StrEnum):
    email = "email"
    whatsapp = "whatsapp"
    signal = "signal"
    phone = "phone"
    telegram = "telegram"
    other = "other"


class VettingState(StrEnum):
    unvetted = "unvetted"
    vetting = "vetting"
    vetted = "vetted"
    vouched_by_partner = "vouched_by_partner"
    declined = "declined"


# --- tables ------------------------------------------------------------------


class Requester(IntakeBase, table=True):
    __tablename__ = "requesters"

    id: uuid.UUID = SQLField(primary_key=True)
    # The requester's data key, wrapped by the master key; destroying it shreds their data.
    wrapped_key: bytes | None = SQLField(sa_column=Column(LargeBinary, nullable=True))
    name_enc: bytes | None = SQLField(sa_column=Column(LargeBinary, nullable=True))
    contact_channel: str | None = None
    contact_handle_enc: bytes | None = SQLField(sa_column=Column(LargeBinary, nullable=True))
    # Keyed hash of the normalised handle: threads messages without storing it in clear.
    contact_index: str | None = SQLField(default=None, index=True, max_length=64)
    # The master key the contact index was computed under: after a rotation the
    # re-index job computes the others again (services/intake/reindex.py).
    contact_index_key: str | None = SQLField(default=None, max_length=16)
    # When and how the person can safely be reached (free text, encrypted) and what to avoid.
    contact_times_enc: bytes | None = SQLField(sa_column=_blob_or_none())
    avoid_channels: str | None = SQLField(default=None, max_length=200)
    role: str
    country: str | None = SQLField(default=None, max_length=2)
    created_at: datetime = SQLField(sa_column=_ts())
    # The latest of vetting_changes, kept here for lists and filters.
    vetting_state: str = SQLField(
        default="unvetted", max_length=24, sa_column_kwargs={"server_default": "unvetted"}
    )


class Ticket(IntakeBase, table=True):
    __tablename__ = "tickets"
    # The handler list pages through tickets by (received_at, id).
    __table_args__ = (Index("ix_tickets_received_at_id", "received_at", "id"),)

    id: uuid.UUID = SQLField(primary_key=True)
    reference: str = SQLField(unique=True, max_length=16)
    requester_id: uuid.UUID = SQLField(foreign_key="requesters.id", index=True)
    channel: str
    declared_language: str | None = None
    status: str = TicketStatus.new
    follow_up_hash: str = SQLField(max_length=64)
    received_at: datetime = SQLField(sa_column=_ts())
    category: str | None = None
    priority: str | None = None
    triaged_at: datetime | None = SQLField(default=None, sa_column=_ts_or_none())
    # What the person said they need (taxonomy categories, comma-separated), from the form.
    requested_help: str | None = SQLField(default=None, max_length=400)
    outcome: str | None = SQLField(default=None, max_length=32)
    closed_at: datetime | None = SQLField(default=None, sa_column=_ts_or_none())
    updated_at: datetime | None = SQLField(default=None, sa_column=_ts_or_none())
    # Triage's roster id of the handler on the case (`ticket.assigned`), and when that
    # was decided: an older assignment arriving late does not undo a newer one.
    assigned_handler_id: str | None = SQLField(default=None, max_length=64, index=True)
    assigned_at: datetime | None = SQLField(default=None, sa_column=_ts_or_none())


class Message(IntakeBase, table=True):
    __tablename__ = "messages"

    id: uuid.UUID = SQLField(primary_key=True)
    ticket_id: uuid.UUID = SQLField(foreign_key="tickets.id", index=True)
    author: str
    # A note between handlers: never shown or sent to the requester.
    internal: bool = SQLField(default=False, sa_column_kwargs={"server_default": false()})
    body_enc: bytes = SQLField(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = SQLField(sa_column=_ts())
    # Keyed hash of the platform's message id: a re-delivered webhook adds nothing.
    provider_ref: str | None = SQLField(default=None, unique=True, index=True, max_length=64)
    # The platform's id itself, encrypted: what a reply refers to (an email's Message-ID,
    # for In-Reply-To). Only kept where a reply needs it.
    provider_id_enc: bytes | None = SQLField(default=None, sa_column=_blob_or_none())


class Attachment(IntakeBase, table=True):
    """A file a channel announced with a message: metadata only, nothing fetched yet."""

    __tablename__ = "attachments"

    id: uuid.UUID = SQLField(primary_key=True)
    message_id: uuid.UUID = SQLField(foreign_key="messages.id", index=True)
    ticket_id: uuid.UUID = SQLField(foreign_key="tickets.id", index=True)
    channel: str = SQLField(max_length=16)
    # image, document, audio, video: as the platform classed it.
    kind: str = SQLField(max_length=16)
    mime_type: str | None = SQLField(default=None, max_length=128)
    # The platform's media id, file name and digest as JSON, encrypted with the requester's key.
    media_enc: bytes = SQLField(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = SQLField(sa_column=_ts())
    # The file itself when the channel carried it (email), encrypted with the requester's key.
    content_enc: bytes | None = SQLField(default=None, sa_column=_blob_or_none())
    size: int | None = None
    # Keyed hash of the file's SHA-256 (services.intake.keys.evidence_index): the same file
    # sent again to the same ticket is stored once. Keyed, so that whoever holds a file
    # cannot test whether it is here.
    content_index: str | None = SQLField(default=None, index=True, max_length=64)
    # The attachment holding the same file's content, when this one repeats it.
    duplicate_of: uuid.UUID | None = SQLField(default=None)


class RecentSubmission(IntakeBase, table=True):
    """A new ticket's fingerprint, kept ten minutes: a double submit answers with that ticket.

    The fingerprint is a keyed hash of the normalised text and of who sent it (the contact's
    index, else the client); rows older than the window are deleted as new ones come in, so
    nothing here outlives it for long.
    """

    __tablename__ = "recent_submissions"

    id: int | None = SQLField(default=None, primary_key=True)
    # Unique: a second ticket with the same fingerprint fails to insert, and only then is
    # the first one looked up (the common path reads nothing).
    fingerprint: str = SQLField(unique=True, index=True, max_length=64)
    ticket_id: uuid.UUID = SQLField(foreign_key="tickets.id", index=True)
    received_at: datetime = SQLField(sa_column=_ts())


class DeliveryState(StrEnum):
    # Queued for the channel's sender (email, WhatsApp, Signal), or waiting for a retry.
    pending = "pending"
    sent = "sent"
    # Given up: a permanent refusal, the channel not configured, or too many attempts.
    failed = "failed"
    # The web form has no channel back: the reply waits on the follow-up page.
    on_follow_up_page = "on_follow_up_page"
    # Not sent: the person asked not to be contacted through this channel.
    withheld = "withheld"


class Delivery(IntakeBase, table=True):
    """A handler's reply on its way to the requester, through the ticket's channel."""

    __tablename__ = "deliveries"

    message_id: uuid.UUID = SQLField(primary_key=True, foreign_key="messages.id")
    ticket_id: uuid.UUID = SQLField(foreign_key="tickets.id", index=True)
    channel: str
    state: str = SQLField(index=True, max_length=24)
    attempts: int = 0
    created_at: datetime = SQLField(sa_column=_ts())
    updated_at: datetime = SQLField(sa_column=_ts())
    # When the sender may try (again); a sender that claims the row pushes it ahead (a lease).
    next_attempt_at: datetime | None = SQLField(default=None, sa_column=_ts_or_none())
    # Keyed hash of the id the channel gave the sent message (an email's Message-ID:
    # a reply's In-Reply-To finds the ticket by it).
    provider_ref: str | None = SQLField(default=None, index=True, max_length=64)
    # Why the last attempt failed, as a code (smtp_550, http_503, timeout): no personal text.
    last_error: str | None = SQLField(default=None, max_length=64)


class ConsentChange(IntakeBase, table=True):
    """One change of a requester's consent: the whole record after it (history, append-only)."""

    __tablename__ = "consent_changes"

    id: int | None = SQLField(default=None, primary_key=True)
    requester_id: uuid.UUID = SQLField(foreign_key="requesters.id", index=True)
    share_with_platforms: bool
    share_with_partners: bool
    anonymous_statistics: bool
    wording_version: str = SQLField(max_length=32)
    # Where the person said it (web, email, ..., handler).
    source: str = SQLField(max_length=16)
    # The token id of the handler who recorded it, or "requester".
    actor_id: str = SQLField(max_length=16)
    changed_at: datetime = SQLField(sa_column=_ts())


class VettingChange(IntakeBase, table=True):
    """One change of a requester's vetting state, with who and why (history, append-only)."""

    __tablename__ = "vetting_changes"

    id: uuid.UUID = SQLField(primary_key=True)
    requester_id: uuid.UUID = SQLField(foreign_key="requesters.id", index=True)
    state: str = SQLField(max_length=24)
    actor_id: str = SQLField(max_length=16)
    actor_scope: str = SQLField(max_length=16)
    # The handler's reason, encrypted with the requester's data key.
    note_enc: bytes | None = SQLField(sa_column=_blob_or_none())
    changed_at: datetime = SQLField(sa_column=_ts())


# --- API schemas -------------------------------------------------------------


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ContactChannel
    handle: str = Field(min_length=1, max_length=320)
    # When it is safe to reach the person, in their words (stored encrypted).
    safe_times: str | None = Field(default=None, min_length=1, max_length=300)
    # Ways the person must NOT be contacted (a shared phone, a watched mailbox).
    avoid: list[ContactChannel] = Field(default_factory=list, max_length=6)


class ConsentGiven(BaseModel):
    """What the person agreed to when writing in: nothing unless listed."""

    model_config = ConfigDict(extra="forbid")

    wording_version: str = Field(max_length=32)
    granted: list[ConsentPurpose] = Field(default_factory=list, max_length=3)

    @field_validator("wording_version")
    @classmethod
    def _known_wording(cls, value: str) -> str:
        if value not in CONSENT_WORDINGS:
            raise ValueError("unknown consent wording version")
        return value


class TicketCreate(BaseModel):
    """A ticket as a person or another tool submits it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=20_000)
    channel: Channel = Channel.web
    language: str | None = Field(default=None, pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
    requester_role: RequesterRole = RequesterRole.unknown
    country: str | None = Field(default=None, pattern=r"^[A-Za-z]{2}$")
    requester_name: str | None = Field(default=None, min_length=1, max_length=200)
    contact: Contact | None = None
    # What help the person asked for, as taxonomy categories (the form maps plain words).
    requested_help: list[Category] = Field(default_factory=list, max_length=5)
    consent: ConsentGiven | None = None


class TicketAccepted(BaseModel):
    id: uuid.UUID
    reference: str
    received_at: datetime
    follow_up_token: str | None = Field(
        description="Shown only this once; keep it to follow the case. None on a duplicate."
    )
    # The same text from the same sender within ten minutes: the ticket already opened, and
    # no token (whoever sent it again may not be the person who holds the first).
    duplicate: bool = False


class ContactPublic(BaseModel):
    channel: ContactChannel
    handle: str
    safe_times: str | None = None
    avoid: list[ContactChannel] = []


class RequesterPublic(BaseModel):
    id: uuid.UUID
    name: str | None
    contact: ContactPublic | None
    role: RequesterRole
    country: str | None
    vetting_state: VettingState = VettingState.unvetted


class AttachmentPublic(BaseModel):
    """A file the channel announced: the platform's media id, not the file itself."""

    id: uuid.UUID
    channel: Channel
    kind: str
    mime_type: str | None
    media_id: str
    filename: str | None = None
    sha256: str | None = None
    size: int | None = None
    # The file is held here (email, the follow-up page) and can be downloaded; else only
    # the platform's id is.
    stored: bool = False
    # Another attachment of the ticket holding the very same file (it is stored once).
    duplicate_of: uuid.UUID | None = None


class MessagePublic(BaseModel):
    id: uuid.UUID
    author: Author
    text: str
    created_at: datetime
    internal: bool = False
    # How a reply to the requester is getting to them; None for their messages and notes.
    delivery: DeliveryState | None = None
    # Why it failed or is being retried (smtp_550, http_503, timeout, do_not_contact, ...).
    delivery_error: str | None = None
    delivery_attempts: int | None = None
    attachments: list[AttachmentPublic] = []


class MessageCreate(BaseModel):
    """A handler's reply to the requester, or an internal note (internal=true)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=20_000)
    internal: bool = False


class MessageAdded(BaseModel):
    id: uuid.UUID
    ticket_id: uuid.UUID
    internal: bool
    created_at: datetime
    delivery: DeliveryState | None
    status: TicketStatus


class StatusChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    status: TicketStatus


class Closure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    outcome: Outcome


class TicketState(BaseModel):
    """A ticket's status after a change."""

    id: uuid.UUID
    status: TicketStatus
    outcome: Outcome | None
    updated_at: datetime


class TicketSummary(BaseModel):
    """A ticket in a list: ids, status and triage only, nothing decrypted."""

    id: uuid.UUID
    reference: str
    status: TicketStatus
    channel: Channel
    declared_language: str | None
    received_at: datetime
    updated_at: datetime | None
    category: Category | None
    priority: Priority | None
    outcome: Outcome | None
    assigned_handler_id: str | None = None


class TicketPage(BaseModel):
    items: list[TicketSummary]
    # Pass as `cursor` for the next page; None on the last one.
    next_cursor: str | None


class ConsentUpdate(BaseModel):
    """A change of consent a handler records on the person's word."""

    model_config = ConfigDict(extra="forbid")

    consents: dict[ConsentPurpose, bool] = Field(min_length=1)
    wording_version: str = Field(max_length=32)

    @field_validator("wording_version")
    @classmethod
    def _known_wording(cls, value: str) -> str:
        if value not in CONSENT_WORDINGS:
            raise ValueError("unknown consent wording version")
        return value


class ConsentEntry(BaseModel):
    consents: dict[ConsentPurpose, bool]
    wording_version: str
    source: str
    actor_id: str
    changed_at: datetime


class ConsentPublic(BaseModel):
    """The current consent (nothing granted if never recorded) and its history, newest first."""

    requester_id: uuid.UUID
    consents: dict[ConsentPurpose, bool]
    history: list[ConsentEntry]


class VettingUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    state: VettingState
    note: str | None = Field(default=None, min_length=1, max_length=2_000)


class VettingEntry(BaseModel):
    state: VettingState
    actor_id: str
    actor_scope: str
    note: str | None
    changed_at: datetime


class VettingPublic(BaseModel):
    requester_id: uuid.UUID
    state: VettingState
    history: list[VettingEntry]


class TriageSummary(BaseModel):
    category: Category
    priority: Priority
    triaged_at: datetime


class ErasureReceipt(BaseModel):
    """What was erased (ids only); copies taken earlier go unreadable at the next key rotation."""

    requester_id: uuid.UUID
    ticket_ids: list[uuid.UUID]
    erased_at: datetime


class TicketPublic(BaseModel):
    id: uuid.UUID
    reference: str
    status: TicketStatus
    channel: Channel
    declared_language: str | None
    received_at: datetime
    requester: RequesterPublic
    messages: list[MessagePublic]
    triage: TriageSummary | None
    requested_help: list[Category] = []
    outcome: Outcome | None = None
    closed_at: datetime | None = None
    # Triage's roster id of the handler on the case; None while unassigned.
    assigned_handler_id: str | None = None


# Who read or changed which ticket or requester (shared.audit): ids only, hash-chained.
AUDIT_TABLES = audit_tables(IntakeBase.metadata)
