"""Intake's tables (own registry) and API schemas. Personal fields are stored only encrypted."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Column, LargeBinary
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from shared.audit import audit_tables
from shared.contracts import Author, Category, Channel, Priority, RequesterRole, TicketStatus
from shared.db import UTCDateTime


class IntakeBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


def _ts() -> Column[datetime]:
    return Column(UTCDateTime(), nullable=False)


class ContactChannel(StrEnum):
    email = "email"
    whatsapp = "whatsapp"
    signal = "signal"
    phone = "phone"
    telegram = "telegram"
    other = "other"


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
    role: str
    country: str | None = SQLField(default=None, max_length=2)
    created_at: datetime = SQLField(sa_column=_ts())


class Ticket(IntakeBase, table=True):
    __tablename__ = "tickets"

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
    triaged_at: datetime | None = SQLField(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class Message(IntakeBase, table=True):
    __tablename__ = "messages"

    id: uuid.UUID = SQLField(primary_key=True)
    ticket_id: uuid.UUID = SQLField(foreign_key="tickets.id", index=True)
    author: str
    body_enc: bytes = SQLField(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = SQLField(sa_column=_ts())


# --- API schemas -------------------------------------------------------------


class Contact(BaseModel):
    model_config = ConfigDict(extra="forbid")

    channel: ContactChannel
    handle: str = Field(min_length=1, max_length=320)


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


class TicketAccepted(BaseModel):
    id: uuid.UUID
    reference: str
    received_at: datetime
    follow_up_token: str = Field(description="Shown only this once; keep it to follow the case.")


class ContactPublic(BaseModel):
    channel: ContactChannel
    handle: str


class RequesterPublic(BaseModel):
    id: uuid.UUID
    name: str | None
    contact: ContactPublic | None
    role: RequesterRole
    country: str | None


class MessagePublic(BaseModel):
    id: uuid.UUID
    author: Author
    text: str
    created_at: datetime


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


# Who read or changed which ticket or requester (shared.audit): ids only, hash-chained.
AUDIT_TABLES = audit_tables(IntakeBase.metadata)
