"""Evidence stored once per ticket (a keyed digest of each file, and the attachment that
holds a repeated file's content); and the fingerprints of new tickets, kept ten minutes,
so that a double submit or a retried delivery opens no second ticket.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-21 08:59:12
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "recent_submissions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("received_at", shared.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["tickets.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("recent_submissions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_recent_submissions_fingerprint"), ["fingerprint"], unique=True
        )
        batch_op.create_index(
            batch_op.f("ix_recent_submissions_ticket_id"), ["ticket_id"], unique=False
        )
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("content_index", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("duplicate_of", sa.Uuid(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_attachments_content_index"), ["content_index"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("attachments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attachments_content_index"))
        batch_op.drop_column("duplicate_of")
        batch_op.drop_column("content_index")
    with op.batch_alter_table("recent_submissions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_recent_submissions_ticket_id"))
        batch_op.drop_index(batch_op.f("ix_recent_submissions_fingerprint"))
    op.drop_table("recent_submissions")
