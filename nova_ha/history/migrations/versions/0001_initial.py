"""Initial history schema: records, incidents and their steps.

Revision ID: 0001
Revises:
Create Date: 2025-01-01 00:00:00
"""

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

revision = '0001'
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types in nova_ha.history.models as of this revision:
# a revision must keep creating the same schema when the models move on.
NAME = sa.String(255)
MYSQL_TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4'}


def _instant():
    return sa.DateTime().with_variant(mysql.DATETIME(fsp=6), 'mysql',
                                      'mariadb')


def _json_text():
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


def upgrade():
    op.create_table(
        'history_records',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('at', _instant(), nullable=False),
        sa.Column('kind', NAME, nullable=False),
        sa.Column('message', sa.Text, nullable=False),
        sa.Column('host', NAME),
        sa.Column('instance', NAME),
        sa.Column('segment', NAME),
        sa.Column('outcome', NAME),
        sa.Column('incident', NAME),
        sa.Column('detail', _json_text()),
        **MYSQL_TABLE_ARGS)
    op.create_index('ix_history_records_at', 'history_records', ['at'])
    op.create_index('ix_history_records_host_at', 'history_records',
                    ['host', 'at'])
    op.create_index('ix_history_records_instance_at', 'history_records',
                    ['instance', 'at'])
    op.create_index('ix_history_records_incident', 'history_records',
                    ['incident'])
    op.create_index('ix_history_records_kind', 'history_records', ['kind'])

    op.create_table(
        'history_incidents',
        sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
        sa.Column('key', NAME, nullable=False),
        sa.Column('kind', NAME, nullable=False),
        sa.Column('host', NAME),
        sa.Column('instance', NAME),
        sa.Column('state', NAME, nullable=False),
        sa.Column('opened_at', _instant(), nullable=False),
        sa.Column('updated_at', _instant(), nullable=False),
        sa.Column('closed_at', _instant()),
        sa.Column('detail', _json_text()),
        sa.UniqueConstraint('key', name='uq_history_incidents_key'),
        **MYSQL_TABLE_ARGS)
    op.create_index('ix_history_incidents_host', 'history_incidents',
                    ['host'])
    op.create_index('ix_history_incidents_closed_at', 'history_incidents',
                    ['closed_at'])

    op.create_table(
        'history_steps',
        sa.Column('incident_id', sa.Integer,
                  sa.ForeignKey('history_incidents.id',
                                name='fk_history_steps_incident_id',
                                ondelete='CASCADE'),
                  primary_key=True),
        sa.Column('name', NAME, primary_key=True),
        sa.Column('status', NAME, nullable=False),
        sa.Column('started_at', _instant(), nullable=False),
        sa.Column('updated_at', _instant(), nullable=False),
        sa.Column('detail', _json_text()),
        **MYSQL_TABLE_ARGS)
