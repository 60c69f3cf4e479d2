"""A statement the history database does not answer in time gives up.

Real parts: the machine's PostgreSQL and MariaDB (a throwaway database
each), a second connection that holds a lock the store's statement waits
on, and for a link that goes silent a TCP proxy that is cut
(nova_ha_testbed.fault_services).  The store must raise HistoryUnavailable
within its statement timeout plus a small margin, and work again once the
lock is gone.
"""

import os
import socket
import sqlite3
import tempfile
import time
import unittest

import sqlalchemy as sa

from nova_ha.history import store as history_store

from nova_ha_testbed import fault_services
from tests.integration.history import backends

TIMEOUT = 1.0
# Round trips, the rollback of the abandoned statement, a busy machine.
MARGIN = 1.5
KEY = 'host_failure:a1:1'


class StatementTimeoutContract:
    """Subclasses set ADMIN_URL and the lock statements."""

    ADMIN_URL = None
    # SQL run by a second connection to hold every write (and read) of
    # the incidents table; RELEASE ends it where a commit does not.
    TABLE_LOCK = None
    TABLE_UNLOCK = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.database = backends.ThrowawayDatabase(cls.ADMIN_URL)
        cls.database.create()
        with history_store.HistoryStore(cls.database.url) as store:
            store.upgrade()

    @classmethod
    def tearDownClass(cls):
        cls.database.drop()
        super().tearDownClass()

    def setUp(self):
        self.store = self.new_store(self.database.url)
        self.store.open_incident(KEY, 'host_failure', host='a1',
                                 owner='engine-1', generation=1)
        self.holder = sa.create_engine(self.database.url,
                                       poolclass=sa.pool.NullPool)
        self.addCleanup(self.holder.dispose)

    def new_store(self, url):
        store = history_store.HistoryStore(url, statement_timeout=TIMEOUT)
        self.addCleanup(store.close)
        return store

    def assertGivesUp(self, call, *args, **kwargs):
        began = time.monotonic()
        with self.assertRaises(history_store.HistoryUnavailable) as caught:
            call(*args, **kwargs)
        elapsed = time.monotonic() - began
        self.assertLess(elapsed, TIMEOUT + MARGIN, caught.exception)
        return elapsed, caught.exception

    def save(self):
        return self.store.save_incident(KEY, generation=1, state='fencing')

    def test_a_write_behind_another_transactions_row_lock_gives_up(self):
        connection = self.holder.connect()
        self.addCleanup(connection.close)
        transaction = connection.begin()
        connection.execute(sa.text(
            'SELECT id FROM history_incidents WHERE history_incidents.key '
            '= :key FOR UPDATE'), {'key': KEY})
        elapsed, error = self.assertGivesUp(self.save)
        # It waited for the lock, not failed at once for another reason.
        self.assertGreater(elapsed, TIMEOUT * 0.8, error)
        transaction.rollback()
        self.assertTrue(self.save())

    def test_a_read_behind_a_table_lock_gives_up(self):
        connection = self.holder.connect()
        self.addCleanup(connection.close)
        transaction = connection.begin()
        connection.exec_driver_sql(self.TABLE_LOCK)
        elapsed, error = self.assertGivesUp(self.store.get_incident, KEY)
        self.assertGreater(elapsed, TIMEOUT * 0.8, error)
        if self.TABLE_UNLOCK:
            connection.exec_driver_sql(self.TABLE_UNLOCK)
        transaction.rollback()
        self.assertEqual(1, self.store.get_incident(KEY).generation)


class TestPostgreSQL(StatementTimeoutContract, unittest.TestCase):
    ADMIN_URL = backends.POSTGRESQL_ADMIN_URL
    TABLE_LOCK = 'LOCK TABLE history_incidents IN ACCESS EXCLUSIVE MODE'

    def test_a_silent_server_is_given_up_by_the_connections_socket(self):
        # libpq has no read timeout of its own: a server that stops
        # answering (a partition, a dead host) is found by TCP, through
        # keepalives on an idle wait and TCP_USER_TIMEOUT on unanswered
        # data.  Both must be on every connection of the store.
        raw = self.store._engine.raw_connection()
        self.addCleanup(raw.close)
        sock = socket.socket(fileno=os.dup(raw.driver_connection.fileno()))
        self.addCleanup(sock.close)
        self.assertEqual(1, sock.getsockopt(socket.SOL_SOCKET,
                                            socket.SO_KEEPALIVE))
        user_timeout = sock.getsockopt(socket.IPPROTO_TCP,
                                       socket.TCP_USER_TIMEOUT)
        self.assertGreater(user_timeout, 0)
        self.assertLessEqual(user_timeout, (TIMEOUT + MARGIN) * 1000)
        idle = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE)
        interval = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL)
        probes = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT)
        self.assertLessEqual(idle + interval * probes, TIMEOUT + 3)

    def test_options_of_the_url_are_kept(self):
        url = sa.engine.make_url(self.database.url).update_query_dict(
            {'options': '-c application_name=nova-ha-test'})
        store = self.new_store(url.render_as_string(hide_password=False))
        with store._engine.connect() as connection:
            self.assertEqual('nova-ha-test', connection.exec_driver_sql(
                'SHOW application_name').scalar())
            self.assertEqual('1s', connection.exec_driver_sql(
                'SHOW statement_timeout').scalar())


class TestMariaDB(StatementTimeoutContract, unittest.TestCase):
    ADMIN_URL = backends.MYSQL_ADMIN_URL
    TABLE_LOCK = 'LOCK TABLES history_incidents WRITE'
    TABLE_UNLOCK = 'UNLOCK TABLES'

    def test_a_cut_link_is_given_up_by_the_socket_timeouts(self):
        url = sa.engine.make_url(self.database.url)
        proxy = fault_services.TcpProxy(url.host, url.port or 3306)
        self.addCleanup(proxy.stop)
        # A new connection through the cut link waits for the server's
        # greeting until connect_timeout: keep it short here.
        store = self.new_store(url.set(
            host='127.0.0.1', port=proxy.port).update_query_dict(
                {'connect_timeout': '1'}).render_as_string(
                    hide_password=False))
        self.assertEqual(1, store.get_incident(KEY).generation)
        proxy.cut()
        began = time.monotonic()
        with self.assertRaises(history_store.HistoryUnavailable):
            store.get_incident(KEY)
        # The pooled connection's ping (read timeout), then one new
        # connection (connect timeout).
        self.assertLess(time.monotonic() - began, TIMEOUT + 1 + 1 + MARGIN)
        proxy.restore()
        self.assertEqual(1, store.get_incident(KEY).generation)


class TestSQLite(unittest.TestCase):

    def setUp(self):
        path = os.path.join(tempfile.mkdtemp(prefix='nova-ha-history-'),
                            'history.sqlite')
        self.store = history_store.HistoryStore('sqlite:///' + path,
                                                statement_timeout=TIMEOUT)
        self.addCleanup(self.store.close)
        self.store.upgrade()
        self.store.open_incident(KEY, 'host_failure', host='a1',
                                 owner='engine-1', generation=1)
        self.other = sqlite3.connect(path, isolation_level=None)
        self.addCleanup(self.other.close)

    def test_a_write_behind_another_writer_gives_up_after_the_timeout(self):
        # Another process (the CLI, another engine on the machine) holds
        # the database's write lock.
        self.other.execute('BEGIN IMMEDIATE')
        began = time.monotonic()
        with self.assertRaises(history_store.HistoryUnavailable):
            self.store.save_incident(KEY, generation=1, state='fencing')
        elapsed = time.monotonic() - began
        self.assertGreater(elapsed, TIMEOUT * 0.8)
        self.assertLess(elapsed, TIMEOUT + MARGIN)
        self.other.execute('ROLLBACK')
        self.assertTrue(self.store.save_incident(KEY, generation=1,
                                                 state='fencing'))
