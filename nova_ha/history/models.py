"""The history schema as SQLAlchemy Core tables.

The alembic migrations in ``migrations/versions`` create exactly this schema
(a unit test compares the two), so a change here needs a new revision.

Three tables:

``history_records``
    one row per thing that happened (append only): events received or
    rejected, decisions, fence results, VM moves, alerts.
``history_incidents``
    one row per recovery, keyed by an engine-chosen unique key
    (for example ``host:compute-3``); the key's unique constraint is what
    makes two engines agree on who opened a recovery.  ``owner`` and
    ``generation`` say which engine works on it now: a take-over bumps the
    generation (a compare-and-set), the fencing token every later write of
    that engine carries.  ``operator`` holds the operator's requests
    (retry, close, confirm the host down) until the engine acted on them.
``history_steps``
    the steps of an incident done so far (``fence``, ``force_down``,
    ``evacuate:<uuid>``), so that a successor engine skips completed ones.

Times are stored as naive UTC with microseconds (MySQL needs ``fsp=6``) and
handed out as aware UTC datetimes.
"""

import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import mysql

#: Longest key, host, kind or step name (fits a MySQL utf8mb4 index).
NAME_LENGTH = 255


def _naive_utc(value):
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return value


class UTCDateTime(sa.types.TypeDecorator):
    """A UTC instant: aware datetimes in, aware UTC datetimes out.

    A naive datetime given by a caller is taken as UTC.
    """

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect):
        if dialect.name in ('mysql', 'mariadb'):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        return _naive_utc(value)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=datetime.timezone.utc)


def json_text():
    """Text holding JSON (serialised by the store, after scrubbing).

    Plain text rather than a JSON column: MariaDB's JSON is an alias of
    LONGTEXT that reflects differently from MySQL's, and nothing queries
    inside the documents.
    """
    return sa.Text().with_variant(mysql.MEDIUMTEXT(), 'mysql', 'mariadb')


#: InnoDB for foreign keys and row locks; utf8mb4 whatever the server's
#: default, so any host or instance name fits.
MYSQL_TABLE_ARGS = {'mysql_engine': 'InnoDB', 'mysql_charset': 'utf8mb4'}

metadata = sa.MetaData()

records = sa.Table(
    'history_records', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('at', UTCDateTime(), nullable=False),
    sa.Column('kind', sa.String(NAME_LENGTH), nullable=False),
    sa.Column('message', sa.Text, nullable=False),
    sa.Column('host', sa.String(NAME_LENGTH)),
    sa.Column('instance', sa.String(NAME_LENGTH)),
    sa.Column('segment', sa.String(NAME_LENGTH)),
    sa.Column('outcome', sa.String(NAME_LENGTH)),
    sa.Column('incident', sa.String(NAME_LENGTH)),
    sa.Column('detail', json_text()),
    # The fencing token (incident generation) of the engine that wrote it.
    sa.Column('token', sa.Integer),
    sa.Index('ix_history_records_at', 'at'),
    sa.Index('ix_history_records_host_at', 'host', 'at'),
    sa.Index('ix_history_records_instance_at', 'instance', 'at'),
    sa.Index('ix_history_records_incident', 'incident'),
    sa.Index('ix_history_records_kind', 'kind'),
    **MYSQL_TABLE_ARGS,
)

incidents = sa.Table(
    'history_incidents', metadata,
    sa.Column('id', sa.Integer, primary_key=True, autoincrement=True),
    sa.Column('key', sa.String(NAME_LENGTH), nullable=False),
    sa.Column('kind', sa.String(NAME_LENGTH), nullable=False),
    sa.Column('host', sa.String(NAME_LENGTH)),
    sa.Column('instance', sa.String(NAME_LENGTH)),
    sa.Column('state', sa.String(NAME_LENGTH), nullable=False),
    sa.Column('opened_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('closed_at', UTCDateTime()),
    sa.Column('detail', json_text()),
    sa.Column('owner', sa.String(NAME_LENGTH)),
    sa.Column('generation', sa.Integer, nullable=False,
              server_default=sa.text('0')),
    # Written only by operator commands (HistoryStore.operator_request).
    sa.Column('operator', json_text()),
    sa.UniqueConstraint('key', name='uq_history_incidents_key'),
    sa.Index('ix_history_incidents_host', 'host'),
    sa.Index('ix_history_incidents_closed_at', 'closed_at'),
    **MYSQL_TABLE_ARGS,
)

steps = sa.Table(
    'history_steps', metadata,
    sa.Column('incident_id', sa.Integer,
              sa.ForeignKey('history_incidents.id',
                            name='fk_history_steps_incident_id',
                            ondelete='CASCADE'),
              primary_key=True),
    sa.Column('name', sa.String(NAME_LENGTH), primary_key=True),
    sa.Column('status', sa.String(NAME_LENGTH), nullable=False),
    sa.Column('started_at', UTCDateTime(), nullable=False),
    sa.Column('updated_at', UTCDateTime(), nullable=False),
    sa.Column('detail', json_text()),
    **MYSQL_TABLE_ARGS,
)
