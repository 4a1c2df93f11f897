"""Ticket status and assignment, referral states, monthly counters, and the gauges of
tickets as they stand.

The monthly counters are filled from the daily ones here; the unused indexes of ticket_facts
go. Ticket facts folded before this
revision have no status or assignment, so the gauges start empty: run
`python -m services.reporting.rebuild` to fill them.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 07:54:52.475550
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import shared.db

revision: str = '0004'
down_revision: str | Sequence[str] | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('monthly_counts',
    sa.Column('dimension', sa.String(length=64), nullable=False),
    sa.Column('month', sa.Date(), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('dimension', 'month', 'value')
    )
    op.create_table('state_counts',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('name', 'value')
    )
    with op.batch_alter_table('referral_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('state', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=True))
        batch_op.add_column(sa.Column('state_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('state_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('first_changed_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('accepted_at', shared.db.UTCDateTime(), nullable=True))

    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        # Unused since the counters (0002); each cost the fold a B-tree write per fact.
        batch_op.drop_index(batch_op.f('ix_ticket_facts_received_at'))
        batch_op.drop_index(batch_op.f('ix_ticket_facts_priority'))
        batch_op.drop_index(batch_op.f('ix_ticket_facts_category'))
        batch_op.add_column(sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('status_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('status_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('assigned', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('assigned_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('assignment_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))

    # The months of the counters already folded.
    if op.get_bind().dialect.name == "postgresql":
        month = "CAST(date_trunc('month', day) AS date)"
    else:
        month = "date(day, 'start of month')"
    op.execute(
        f"INSERT INTO monthly_counts (dimension, month, value, n) "
        f"SELECT dimension, {month}, value, SUM(n) FROM daily_counts "
        f"GROUP BY dimension, {month}, value"
    )



def downgrade() -> None:
    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.drop_column('assignment_event_id')
        batch_op.drop_column('assigned_at')
        batch_op.drop_column('assigned')
        batch_op.drop_column('status_event_id')
        batch_op.drop_column('status_at')
        batch_op.drop_column('status')
        batch_op.create_index(batch_op.f('ix_ticket_facts_category'), ['category'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_facts_priority'), ['priority'], unique=False)
        batch_op.create_index(batch_op.f('ix_ticket_facts_received_at'), ['received_at'], unique=False)

    with op.batch_alter_table('referral_facts', schema=None) as batch_op:
        batch_op.drop_column('accepted_at')
        batch_op.drop_column('first_changed_at')
        batch_op.drop_column('state_event_id')
        batch_op.drop_column('state_at')
        batch_op.drop_column('state')

    op.drop_table('state_counts')
    op.drop_table('monthly_counts')
