"""Escalation's tables (own registry)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, Column
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

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
