"""Facts for replies, closing, reprioritisation, SLA breaches, escalations and erasure.

Rows folded before this revision lack these fields: run `python -m services.reporting.rebuild`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 07:01:57.474858
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
import shared.db

revision: str = '0003'
down_revision: str | Sequence[str] | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('escalation_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('submitted_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolved_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('resolution_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))

    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.add_column(sa.Column('classified_at', shared.db.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('classification_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('outcome', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=True))
        batch_op.add_column(sa.Column('closed_event_id', sqlmodel.sql.sqltypes.AutoString(length=36), nullable=True))
        batch_op.add_column(sa.Column('sla_breached', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column('erased', sa.Boolean(), nullable=False, server_default=sa.false()))



def downgrade() -> None:
    with op.batch_alter_table('ticket_facts', schema=None) as batch_op:
        batch_op.drop_column('erased')
        batch_op.drop_column('sla_breached')
        batch_op.drop_column('closed_event_id')
        batch_op.drop_column('outcome')
        batch_op.drop_column('classification_event_id')
        batch_op.drop_column('classified_at')

    with op.batch_alter_table('escalation_facts', schema=None) as batch_op:
        batch_op.drop_column('resolution_event_id')
        batch_op.drop_column('resolved_at')
        batch_op.drop_column('submitted_at')

