"""Overrides and re-triage (triage_changes, classifier output, suggestion) and SLA clocks.

Tickets triaged before this revision get no clock: their first-response targets
are long past or answered by the time it is deployed.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:36:23.854999
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import shared.db

revision: str = '0002'
down_revision: str | Sequence[str] | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('sla_clocks',
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('state', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('received_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('due_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('paused_seconds', sa.Float(), nullable=False),
    sa.Column('paused_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('stopped_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('emitted', sa.JSON(), nullable=False),
    sa.Column('next_check_at', shared.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sla_clocks_next_check_at'), ['next_check_at'], unique=False)

    op.create_table('triage_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('source', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('from_category', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('from_flags', sa.JSON(), nullable=False),
    sa.Column('from_priority', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('category', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('flags', sa.JSON(), nullable=False),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('changed_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('triage_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_triage_changes_changed_at'), ['changed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_triage_changes_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('triage', schema=None) as batch_op:
        batch_op.add_column(sa.Column('classifier_category', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('classifier_flags', sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column('classifier_priority', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('suggestion', sa.JSON(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('triage', schema=None) as batch_op:
        batch_op.drop_column('suggestion')
        batch_op.drop_column('classifier_priority')
        batch_op.drop_column('classifier_flags')
        batch_op.drop_column('classifier_category')

    with op.batch_alter_table('triage_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_triage_changes_ticket_id'))
        batch_op.drop_index(batch_op.f('ix_triage_changes_changed_at'))

    op.drop_table('triage_changes')
    with op.batch_alter_table('sla_clocks', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_sla_clocks_next_check_at'))

    op.drop_table('sla_clocks')
