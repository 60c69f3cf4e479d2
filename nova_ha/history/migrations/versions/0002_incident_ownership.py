"""Incident ownership: owner, generation (fencing token), operator requests.

``history_incidents`` gains ``owner`` (the engine working on it),
``generation`` (bumped by each take-over; existing incidents start at 0) and
``operator`` (JSON: the operator's pending requests); ``history_records``
gains ``token`` (the generation of the engine that wrote the record).

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01 00:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

# Frozen copies of the types in nova_ha.history.models as of this revision.
NAME = sa.String(255)


def _json_text():
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


def upgrade():
    # Plain ADD COLUMN (nullable, or NOT NULL with a default) works on every
    # backend, SQLite included: no table rebuild.
    op.add_column('history_incidents', sa.Column('owner', NAME))
    op.add_column('history_incidents',
                  sa.Column('generation', sa.Integer, nullable=False,
                            server_default=sa.text('0')))
    op.add_column('history_incidents', sa.Column('operator', _json_text()))
    op.add_column('history_records', sa.Column('token', sa.Integer))
