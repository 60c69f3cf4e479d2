"""Throwaway databases on the real PostgreSQL and MariaDB servers.

Each test class gets its own ``nova_ha_test_<random>`` database, created on
entry and dropped on exit, so concurrent runs never see each other's rows.
A server that cannot be reached skips the tests with the reason, except
under CI (CI=true), where it fails them.
"""

import os
import secrets
import unittest

import sqlalchemy as sa

POSTGRESQL_ADMIN_URL = os.environ.get(
    'NOVA_HA_TEST_POSTGRESQL_URL',
    'postgresql+psycopg2://postgres@127.0.0.1:5432/test')
MYSQL_ADMIN_URL = os.environ.get(
    'NOVA_HA_TEST_MYSQL_URL', 'mysql+pymysql://root@127.0.0.1:3306/test')


def _unreachable(admin_url, exc):
    reason = '%s unreachable: %s' % (
        sa.engine.make_url(admin_url).render_as_string(hide_password=True),
        str(getattr(exc, 'orig', exc)).strip().splitlines()[0])
    if os.environ.get('CI') == 'true':
        raise RuntimeError('CI needs ' + reason) from exc
    raise unittest.SkipTest(reason)


class ThrowawayDatabase:
    """CREATE DATABASE on entry, DROP DATABASE on exit; ``url`` for it."""

    def __init__(self, admin_url):
        self.admin_url = sa.engine.make_url(admin_url)
        self.name = 'nova_ha_test_' + secrets.token_hex(6)
        self.url = self.admin_url.set(database=self.name).render_as_string(
            hide_password=False)
        self._admin = sa.create_engine(
            self.admin_url, isolation_level='AUTOCOMMIT',
            poolclass=sa.pool.NullPool)

    @property
    def _backend(self):
        return self.admin_url.get_backend_name()

    def create(self):
        try:
            with self._admin.connect() as connection:
                if self._backend == 'postgresql':
                    connection.exec_driver_sql(
                        'CREATE DATABASE %s' % self.name)
                else:
                    connection.exec_driver_sql(
                        'CREATE DATABASE %s CHARACTER SET utf8mb4' %
                        self.name)
        except sa.exc.OperationalError as exc:
            _unreachable(str(self.admin_url), exc)
        return self.url

    def drop(self):
        with self._admin.connect() as connection:
            if self._backend == 'postgresql':
                connection.exec_driver_sql(
                    'DROP DATABASE IF EXISTS %s WITH (FORCE)' % self.name)
            else:
                connection.exec_driver_sql(
                    'DROP DATABASE IF EXISTS %s' % self.name)
        self._admin.dispose()

    def lock_waiters(self):
        """How many sessions of this database wait on a row lock."""
        if self._backend == 'postgresql':
            sql = ("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                   "'%s' AND wait_event_type = 'Lock'" % self.name)
        else:
            # MariaDB's innodb_trx does not always list a transaction that
            # waits on a row lock (seen after other tests' transactions on the
            # database); the processlist shows the statement
            # still running, which for a one-row write means it waits.
            sql = ("SELECT count(*) FROM information_schema.processlist "
                   "WHERE db = '%s' AND command = 'Query' AND "
                   "(info LIKE 'INSERT%%%%' OR info LIKE 'UPDATE%%%%')"
                   % self.name)
        with self._admin.connect() as connection:
            return connection.exec_driver_sql(sql).scalar()
