"""Initial schema: the service's tables, its outbox and its inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-21 05:30:42.290290
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import shared.db

revision: str = '0001'
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('outbox',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.Column('trace_carrier', sa.JSON(), nullable=False),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('event_id')
    )
    op.create_table('processed_events',
    sa.Column('consumer', sa.String(length=120), nullable=False),
    sa.Column('event_id', sa.String(length=36), nullable=False),
    sa.Column('processed_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('consumer', 'event_id')
    )
    op.create_table('ticket_facts',
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('channel', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('requester_role', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('country', sqlmodel.sql.sqltypes.AutoString(length=2), nullable=True),
    sa.Column('received_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('triaged_at', shared.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ticket_facts_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_facts_priority'), ['priority'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_facts_received_at'), ['received_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_ticket_facts_received_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_facts_priority'))
        batch_op.drop_index(batch_op.f('ix_ticket_facts_category'))

    op.drop_table('ticket_facts')
    op.drop_table('processed_events')
    op.drop_table('outbox')
