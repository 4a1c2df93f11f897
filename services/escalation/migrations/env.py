"""Alembic environment of the escalation service: its tables plus its outbox and inbox."""

from services.escalation.models import EscalationBase
from shared.app import service_tables
from shared.migrations import run_env

metadata = EscalationBase.metadata
service_tables(metadata)
run_env(metadata)
