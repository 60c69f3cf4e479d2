"""Unit tests of nova_ha.history (SQLite)."""
