"""Alembic environment of the intake service: its tables plus its outbox and inbox."""

from services.intake.models import IntakeBase
from shared.app import service_tables
from shared.migrations import run_env

metadata = IntakeBase.metadata
service_tables(metadata)
run_env(metadata)
