"""Revisions of the history schema (alembic skips this file)."""
