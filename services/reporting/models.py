"""Reporting's anonymous read model (own registry) and API schemas: no names, contacts, text."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Date, Integer, String
from sqlalchemy.orm import registry
from sqlmodel import Field as SQLField
from sqlmodel import SQLModel

from services.reporting.domain import Granularity
from shared.db import UTCDateTime


class ReportingBase(SQLModel, registry=registry()):
    """This service's own registry: its tables never mix with another service's."""


# A published count: the number itself, "<5" when small, "x" when withheld to protect one.
Count = int | str


def _at() -> Any:
    return SQLField(default=None, sa_column=Column(UTCDateTime(), nullable=True))


class TicketFact(ReportingBase, table=True):
    """One row per ticket, merged from its events in whatever order they arrive."""

    __tablename__ = "ticket_facts"

    ticket_id: uuid.UUID = SQLField(primary_key=True)
    channel: str | None = None
    requester_role: str | None = None
    country: str | None = SQLField(default=None, max_length=2)
    # No secondary indexes: reports read the counters, and the fold finds a fact by its id
    # only; on a million rows each index was a tenth of the fold's time for nothing.
    received_at: datetime | None = _at()
    # True once ticket.received itself arrived (before that, triage's copy of its fields).
    received_seen: bool = False
    category: str | None = None
    priority: str | None = None
    language: str | None = None
    # Sorted flag ids joined by commas.
    flags: str = ""
    needs_review: bool | None = None
    triaged_at: datetime | None = _at()
    # The event that set the triage fields: the latest triaged_at wins, then the larger id.
    triage_event_id: str | None = SQLField(default=None, max_length=36)
    # The first escalation opened, the first handler reply, the latest closing.
    escalated_at: datetime | None = _at()
    first_response_at: datetime | None = _at()
    resolved_at: datetime | None = _at()
    # A handler corrected triage's category, priority or flags.
    overridden: bool = False
    # The event that set category, priority and flags (a triage or a reprioritisation).
    classified_at: datetime | None = _at()
    classification_event_id: str | None = SQLField(default=None, max_length=36)
    outcome: str | None = SQLField(default=None, max_length=32)
    closed_event_id: str | None = SQLField(default=None, max_length=36)
    # The first-response target was missed while unanswered (sla.breached, level breached).
    sla_breached: bool = False
    # The requester was erased: role and country are forgotten here, counters left as they were.
    erased: bool = False
    # Intake's status (None until a status change: "new"); the latest change wins.
    status: str | None = SQLField(default=None, max_length=32)
    status_at: datetime | None = _at()
    status_event_id: str | None = SQLField(default=None, max_length=36)
    # Whether a handler holds the ticket; never which one (per-handler load is triage's).
    assigned: bool | None = None
    assigned_at: datetime | None = _at()
    assignment_event_id: str | None = SQLField(default=None, max_length=36)


class EscalationFact(ReportingBase, table=True):
    """One row per escalation to a platform, merged from escalation.opened and .resolved."""

    __tablename__ = "escalation_facts"

    escalation_id: uuid.UUID = SQLField(primary_key=True)
    ticket_id: uuid.UUID
    platform: str
    opened_at: datetime | None = _at()
    submitted_at: datetime | None = _at()
    # The platform's first answer: acknowledgement, else outcome.
    responded_at: datetime | None = _at()
    outcome: str | None = None
    # The resolution that set outcome and times: a reopened escalation resolves again.
    resolved_at: datetime | None = _at()
    resolution_event_id: str | None = SQLField(default=None, max_length=36)


class ReferralFact(ReportingBase, table=True):
    """One row per referral to or from a partner, merged from the referral.* events."""

    __tablename__ = "referral_facts"

    referral_id: uuid.UUID = SQLField(primary_key=True)
    ticket_id: uuid.UUID | None = None
    partner_id: str
    direction: str = SQLField(max_length=8)  # "sent" or "received"
    # Sent: the partner acknowledged receipt. Received: it reached this helpline.
    at: datetime | None = _at()
    state: str | None = SQLField(default=None, max_length=16)
    state_at: datetime | None = _at()
    state_event_id: str | None = SQLField(default=None, max_length=36)
    first_changed_at: datetime | None = _at()
    accepted_at: datetime | None = _at()


class DailyCount(ReportingBase, table=True):
    """Pre-aggregated counters: how many tickets of a day count towards one value."""

    __tablename__ = "daily_counts"

    dimension: str = SQLField(sa_column=Column(String(64), primary_key=True))
    day: date = SQLField(sa_column=Column(Date(), primary_key=True))
    value: str = SQLField(sa_column=Column(String(64), primary_key=True))
    n: int = SQLField(sa_column=Column(Integer(), nullable=False))


class MonthlyCount(ReportingBase, table=True):
    """The daily counters summed by month, kept with them in the same transaction: a range
    of whole months reads one row per month instead of one per day."""

    __tablename__ = "monthly_counts"

    dimension: str = SQLField(sa_column=Column(String(64), primary_key=True))
    # The first day of the month.
    month: date = SQLField(sa_column=Column(Date(), primary_key=True))
    value: str = SQLField(sa_column=Column(String(64), primary_key=True))
    n: int = SQLField(sa_column=Column(Integer(), nullable=False))


class StateCount(ReportingBase, table=True):
    """Pre-aggregated gauges of the tickets as they stand now (tickets by state, queues)."""

    __tablename__ = "state_counts"

    name: str = SQLField(sa_column=Column(String(32), primary_key=True))
    value: str = SQLField(sa_column=Column(String(64), primary_key=True))
    n: int = SQLField(sa_column=Column(Integer(), nullable=False))


# --- API schemas ---------------------------------------------------------------------------


class Summary(BaseModel):
    """All-time counts; small ones read "<5", and one that would reveal them "x"."""

    tickets_received: Count
    tickets_triaged: Count
    by_priority: dict[str, Count]
    by_category: dict[str, Count]


class Breakdown(BaseModel):
    """Tickets received in a range, by one dimension, with their total."""

    dimension: str
    first_day: date
    last_day: date
    cells: dict[str, Count]
    total: Count


class Series(BaseModel):
    """A dimension over time: one row per period, with period and value totals."""

    dimension: str
    granularity: Granularity
    first_day: date
    last_day: date
    periods: list[str]
    values: list[str]
    cells: dict[str, dict[str, Count]]
    period_totals: dict[str, Count]
    value_totals: dict[str, Count]
    total: Count


class Durations(BaseModel):
    """Percentiles (minutes, as histogram bucket bounds) per priority or platform."""

    figure: str
    first_day: date
    last_day: date
    count: dict[str, Count]
    p50_minutes: dict[str, int | None]
    p90_minutes: dict[str, int | None]


class Rates(BaseModel):
    """A share per key (SLA met, triage overridden); None where the count is too small."""

    figure: str
    first_day: date
    last_day: date
    count: dict[str, Count]
    hits: dict[str, Count]
    rate: dict[str, float | None]
