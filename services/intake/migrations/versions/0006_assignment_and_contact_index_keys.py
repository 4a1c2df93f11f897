"""Who the ticket is assigned to (triage's `ticket.assigned`), to filter the handler's list;
and the master key each contact index was computed under, so a rotation re-indexes the rest
(existing rows have none: the re-index job computes them all once).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 08:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("requesters", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_index_key", sa.String(length=16), nullable=True))
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.add_column(sa.Column("assigned_handler_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("assigned_at", shared.db.UTCDateTime(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_tickets_assigned_handler_id"), ["assigned_handler_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tickets_assigned_handler_id"))
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("assigned_handler_id")
    with op.batch_alter_table("requesters", schema=None) as batch_op:
        batch_op.drop_column("contact_index_key")
