"""Handler roster, assignments and their history, per-ticket keys for handlers' reasons
(encrypted from now on: service start seals the ones stored in clear), and the audit log.

Tickets triaged before this revision get an unassigned row, open unless their clock
says closed, so that the workload counts them.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 07:46:58.026561
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
    op.create_table('assignment_changes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('handler_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('previous_handler_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('reason_sealed', sa.LargeBinary(), nullable=True),
    sa.Column('changed_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('assignment_changes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignment_changes_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('assignments',
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('handler_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('open', sa.Boolean(), nullable=False),
    sa.Column('automatic', sa.Boolean(), nullable=False),
    sa.Column('actor_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('assigned_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_assignments_handler_id'), ['handler_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_assignments_open'), ['open'], unique=False)

    op.create_table('audit_head',
    sa.Column('id', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_table('audit_log',
    sa.Column('seq', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('token_id', sa.String(length=16), nullable=False),
    sa.Column('actor_scope', sa.String(length=16), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('object_type', sa.String(length=16), nullable=False),
    sa.Column('object_id', sa.String(length=64), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('seq')
    )
    op.create_table('handlers',
    sa.Column('handler_id', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('label', sqlmodel.sql.sqltypes.AutoString(), nullable=False),
    sa.Column('languages', sa.JSON(), nullable=False),
    sa.Column('expertise', sa.JSON(), nullable=False),
    sa.Column('max_open', sa.Integer(), nullable=False),
    sa.Column('available', sa.Boolean(), nullable=False),
    sa.Column('token_id', sqlmodel.sql.sqltypes.AutoString(), nullable=True),
    sa.Column('created_at', shared.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', shared.db.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('handler_id'),
    sa.UniqueConstraint('token_id')
    )
    op.create_table('ticket_keys',
    sa.Column('ticket_id', sa.Uuid(), nullable=False),
    sa.Column('wrapped_key', sa.LargeBinary(), nullable=True),
    sa.PrimaryKeyConstraint('ticket_id')
    )
    with op.batch_alter_table('triage_changes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('reason_sealed', sa.LargeBinary(), nullable=True))

    op.execute(
        "INSERT INTO assignments (ticket_id, handler_id, open, automatic, actor_id, assigned_at) "
        "SELECT t.ticket_id, NULL, (c.state IS NULL OR c.state <> 'closed'), "
        "(1 = 1), 'triage', t.triaged_at "
        "FROM triage t LEFT JOIN sla_clocks c ON c.ticket_id = t.ticket_id"
    )


def downgrade() -> None:
    with op.batch_alter_table('triage_changes', schema=None) as batch_op:
        batch_op.drop_column('reason_sealed')

    op.drop_table('ticket_keys')
    op.drop_table('handlers')
    op.drop_table('audit_log')
    op.drop_table('audit_head')
    with op.batch_alter_table('assignments', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignments_open'))
        batch_op.drop_index(batch_op.f('ix_assignments_handler_id'))

    op.drop_table('assignments')
    with op.batch_alter_table('assignment_changes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_assignment_changes_ticket_id'))

    op.drop_table('assignment_changes')