"""Triage's tables (own registry) and API schemas."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, Column
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from shared.contracts import Category, Channel, Flag, Priority, RequesterRole
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
