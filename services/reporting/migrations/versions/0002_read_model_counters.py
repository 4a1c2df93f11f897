"""Read model: daily counters, triage and timing fields, escalation and referral facts.

Rows folded before this revision have no counters: run `python -m services.reporting.rebuild`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 06:41:28.450796
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
    op.create_table('daily_counts',
    sa.Column('dimension', sa.String(length=64), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('value', sa.String(length=64), nullable=False),
    sa.Column('n', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('dimension', 'day', 'value')
    )
    op.create_table('escalation_facts',
    sa.Column('escalation_id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('platform', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('opened_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('responded_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.PrimaryKeyConstraint('escalation_id')
    )
    op.create_table('referral_facts',
    sa.Column('referral_id', sa.Uuid(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=True),
    sa.Column('partner_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('direction', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('at', shared.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('referral_id')
    )
    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('received_seen', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('language', sqlmodel.sql.sqltypes.AutoString(), nullable=True))
        batch_op.add_column(sa.Column('flags', sqlmodel.sql.sqltypes.AutoString(), nullable=False, server_default=''))
        batch_op.add_column(sa.Column('needs_review', sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column('triage_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('escalated_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('first_response_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('overridden', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.drop_column('overridden')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('first_response_at')
        batch_op.drop_column('escalated_at')
        batch_op.drop_column('triage_event_id')
        batch_op.drop_column('needs_review')
        batch_op.drop_column('flags')
        batch_op.drop_column('language')
        batch_op.drop_column('received_seen')

    op.drop_table('referral_facts')
    op.drop_table('escalation_facts')
    op.drop_table('daily_counts')
