"""Reporting's anonymous read model (own registry) and API schemas: no names, contacts, text."""

from __future__ import annotations

import uuid
from datetime import datetime

from pydantic import BaseModel
from sqlalchemy import Column
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from shared.db import UTCDateTime


class ReportingBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


# A published count: the number itself, or "<5" when it is small enough to identify someone.
Count = int | str


class TicketFact(ReportingBase, table=True):
    """One row per ticket, filled by whichever of its events arrives first."""

    __tablename__ = "ticket_facts"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    channel: str | None = None
    requester_role: str | None = None
    country: str | None = SQLField(default=None, max_length=2)
    received_at: datetime | None = SQLField(
        default=None, sa_column=Column(UTCDateTime(), nullable=True, index=True)
    )
    category: str | None = SQLField(default=None, index=True)
    priority: str | None = SQLField(default=None, index=True)
    triaged_at: datetime | None = SQLField(
        default=None, sa_column=Column(UTCDateTime(), nullable=True)
    )


class Summary(BaseModel):
    """Counts below 5 (but above 0) are shown as "<5"."""

    tickets_received: Count
    tickets_triaged: Count
    by_priority: dict[str, Count]
    by_category: dict[str, Count]
