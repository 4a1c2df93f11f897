"""Alembic environment of the reporting service: its tables plus its outbox and inbox."""

from services.reporting.models import ReportingBase
from shared.app import service_tables
from shared.migrations import run_env

metadata = ReportingBase.metadata
service_tables(metadata)
run_env(metadata)
