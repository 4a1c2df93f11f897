"""Shift hours, time zone and lead flag on the roster; lead pages for P1 tickets and the
delivery state of their webhook notification.

Existing handlers get no shifts (always on shift, as before), UTC, and no lead flag.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 08:57:58.717497
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
    op.create_table('lead_pages',
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('lead_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('priority', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('paged_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', shared.db.UTCDateTime(), nullable=True),
    sa.Column('last_http_status', sa.Integer(), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('finished_at', shared.db.UTCDateTime(), nullable=True),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('lead_pages', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_lead_pages_next_attempt_at'), ['next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_lead_pages_status'), ['status'], unique=False)

    with op.batch_alter_table('handlers', schema=None) as batch_op:
        batch_op.add_column(sa.Column('shifts', sa.JSON(), server_default='[]', nullable=False))
        batch_op.add_column(sa.Column('time_zone', sqlmodel.sql.sqltypes.AutoString(), server_default='UTC', nullable=False))
        batch_op.add_column(sa.Column('lead', sa.Boolean(), server_default=sa.false(), nullable=False))



def downgrade() -> None:
    with op.batch_alter_table('handlers', schema=None) as batch_op:
        batch_op.drop_column('lead')
        batch_op.drop_column('time_zone')
        batch_op.drop_column('shifts')

    with op.batch_alter_table('lead_pages', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_lead_pages_status'))
        batch_op.drop_index(batch_op.f('ix_lead_pages_next_attempt_at'))

    op.drop_table('lead_pages')
