"""The intake service's schema history (Alembic)."""
