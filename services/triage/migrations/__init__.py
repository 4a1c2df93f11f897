"""The triage service's schema history (Alembic)."""
