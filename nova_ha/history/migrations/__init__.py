"""Alembic environment of the history database.

See nova_ha.history.migration.
"""
