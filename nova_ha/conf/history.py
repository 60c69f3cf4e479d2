"""Options of nova_ha.history: where the durable history lives.

Read by nova-ha-engine (which writes the history and the recovery state) and
by the ``nova-ha history`` CLI (which reads it); both must point at the same
database.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'history',
    title='nova-ha history',
    help='The durable record of events, decisions, fence results and VM '
         'moves, and the recovery state that lets another nova-ha-engine '
         'finish a recovery that a dead one started.')

DEFAULT_CONNECTION = 'sqlite:////var/lib/nova-ha/history.sqlite'

#: Seconds one statement may take (the store's default too).
DEFAULT_STATEMENT_TIMEOUT = 5.0

OPTS = [
    cfg.StrOpt(
        'connection',
        default=DEFAULT_CONNECTION,
        secret=True,
        help='SQLAlchemy URL of the history database. The default SQLite '
             'file suits a single nova-ha-engine; with several engine '
             'replicas on different hosts use a shared server, e.g. '
             'postgresql+psycopg2://nova_ha:PASSWORD@db/nova_ha or '
             'mysql+pymysql://nova_ha:PASSWORD@db/nova_ha?charset=utf8mb4. '
             'The engine creates and upgrades the schema on start.'),
    cfg.FloatOpt(
        'statement_timeout',
        default=DEFAULT_STATEMENT_TIMEOUT,
        min=0.5,
        help='Seconds one statement of the history database may take, '
             'waiting on another transaction\'s lock included, before it '
             'is abandoned and the history counts as not answering: the '
             'engine records "history not answering" and looks again '
             'instead of waiting behind a stuck, locked or unreachable '
             'database while the leases of its incidents lapse. The same '
             'limit bounds the wait for a pooled connection and, on '
             'SQLite, for the database lock. A server that stops '
             'answering altogether is given up about a second later '
             '(PostgreSQL: TCP keepalives and TCP_USER_TIMEOUT; MySQL and '
             'MariaDB: the socket\'s read and write timeouts). Keep it '
             'well below the lease time of the coordination backend '
             '([engine] coordination_url). The schema upgrade at start '
             'may take longer.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS} if OPTS else {}
