"""The escalation service's schema history (Alembic)."""
