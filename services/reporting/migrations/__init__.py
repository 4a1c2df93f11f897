"""The reporting service's schema history (Alembic)."""
