"""The lead-page webhook moves to the shared notification hook (shared/notify.py):
its queue is `notices`; `lead_pages` keeps the page itself (once per ticket).

Pages still waiting in lead_pages are queued as notices so none is lost.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 09:55:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import shared.db

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    notices = op.create_table(
        "notices",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", shared.db.UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", shared.db.UTCDateTime(), nullable=True),
        sa.Column("last_http_status", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.String(length=64), nullable=True),
        sa.Column("finished_at", shared.db.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_notices_status"), ["status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_notices_next_attempt_at"), ["next_attempt_at"], unique=False
        )
    _queue_waiting_pages(notices)
    with op.batch_alter_table("lead_pages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lead_pages_status"))
        batch_op.drop_index(batch_op.f("ix_lead_pages_next_attempt_at"))
        for column in (
            "status",
            "attempts",
            "next_attempt_at",
            "last_http_status",
            "last_error",
            "finished_at",
        ):
            batch_op.drop_column(column)


def _queue_waiting_pages(notices: sa.Table) -> None:
    import json
    import uuid

    from alembic import context

    if context.is_offline_mode():
        return  # SQL rendered for review: there are no rows to carry over
    bind = op.get_bind()
    waiting = bind.execute(
        sa.text(
            "SELECT ticket_id, lead_id, priority, reason, paged_at, next_attempt_at "
            "FROM lead_pages WHERE status = 'due'"
        )
    ).all()
    rows = []
    for ticket_id, lead_id, priority, reason, paged_at, next_attempt_at in waiting:
        paged, due = _aware(paged_at), _aware(next_attempt_at)
        body = {
            "type": "sanad.triage.lead.paged",
            "ticket_id": str(uuid.UUID(str(ticket_id))),
            "priority": priority,
            "lead_id": lead_id,
            "reason": reason,
            "paged_at": paged.isoformat() if paged else None,
            "sent_by": "sanad",
        }
        rows.append(
            {
                "id": uuid.uuid4(),
                "body": json.dumps(body, separators=(",", ":"), sort_keys=True).encode(),
                "created_at": paged,
                "status": "due",
                "attempts": 0,
                "next_attempt_at": due or paged,
            }
        )
    if rows:
        op.bulk_insert(notices, rows)


def _aware(value: object) -> datetime | None:
    """A time read by raw SQL (SQLite gives text), as an aware UTC datetime."""
    if value is None:
        return None
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    assert isinstance(moment, datetime)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def downgrade() -> None:
    with op.batch_alter_table("lead_pages", schema=None) as batch_op:
        batch_op.add_column(sa.Column("finished_at", shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.String(), nullable=True))
        batch_op.add_column(sa.Column("last_http_status", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("next_attempt_at", shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("status", sa.String(), nullable=False, server_default="done")
        )
        batch_op.create_index(
            batch_op.f("ix_lead_pages_next_attempt_at"), ["next_attempt_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_lead_pages_status"), ["status"], unique=False)
    with op.batch_alter_table("notices", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notices_next_attempt_at"))
        batch_op.drop_index(batch_op.f("ix_notices_status"))
    op.drop_table("notices")
