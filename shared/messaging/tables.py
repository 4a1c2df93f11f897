"""The outbox and inbox tables, declared on each service's own metadata."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from shared.db import UTCDateTime

OUTBOX = "outbox"
INBOX = "processed_events"


def outbox_table(metadata: MetaData) -> Table:
    """Events committed with the change that caused them, waiting for the relay."""
    return Table(
        OUTBOX,
        metadata,
        Column(
            "id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
        ),
        Column("event_id", String(36), nullable=False, unique=True),
        Column("subject", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        # W3C trace context of the request that made the event: the journey stays one trace.
        Column("trace_carrier", JSON, nullable=False),
        Column("created_at", UTCDateTime(), nullable=False),
    )


def inbox_table(metadata: MetaData) -> Table:
    """Event ids each durable consumer has applied, written with the effect."""
    return Table(
        INBOX,
        metadata,
        Column("consumer", String(120), primary_key=True),
        Column("event_id", String(36), primary_key=True),
        Column("processed_at", UTCDateTime(), nullable=False),
    )
