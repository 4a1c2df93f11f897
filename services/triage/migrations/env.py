"""Alembic environment of the triage service: its tables plus its outbox and inbox."""

from services.triage.models import TriageBase
from shared.app import service_tables
from shared.migrations import run_env

metadata = TriageBase.metadata
service_tables(metadata)
run_env(metadata)
