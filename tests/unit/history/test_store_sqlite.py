"""The history store on SQLite (the default backend), file in a tmp dir."""

import os
import socket
import tempfile
import unittest

from nova_ha.history import store as history_store
from tests.unit.history import store_contract


class TestSQLiteStore(store_contract.StoreContract, unittest.TestCase):

    def make_url(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.directory = tmp.name
        return 'sqlite:///' + os.path.join(tmp.name, 'history.sqlite')


class TestSQLiteSpecifics(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.tmp = tmp.name

    def test_upgrade_creates_the_missing_directory(self):
        path = os.path.join(self.tmp, 'var', 'lib', 'nova-ha', 'h.sqlite')
        with history_store.HistoryStore('sqlite:///' + path) as store:
            store.upgrade()
            store.record('alert', 'a')
        self.assertTrue(os.path.exists(path))

    def test_data_survives_a_new_process_store(self):
        url = 'sqlite:///' + os.path.join(self.tmp, 'h.sqlite')
        with history_store.HistoryStore(url) as store:
            store.upgrade()
            store.open_incident('host:c1', 'host', host='c1')
            store.mark_step('host:c1', 'fence', 'done')
        with history_store.HistoryStore(url) as successor:
            self.assertEqual({'fence'}, set(successor.steps('host:c1')))
            self.assertTrue(successor.get_incident('host:c1').is_open)

    def test_missing_schema_is_unavailable_not_silent(self):
        url = 'sqlite:///' + os.path.join(self.tmp, 'empty.sqlite')
        with history_store.HistoryStore(url) as store:
            self.assertIsNone(store.schema_revision())
            with self.assertRaisesRegex(history_store.HistoryUnavailable,
                                        'no such table'):
                store.record('alert', 'lost?')
            with self.assertRaises(history_store.HistoryUnavailable):
                store.query()

    def test_unopenable_file_is_unavailable(self):
        blocker = os.path.join(self.tmp, 'file')
        open(blocker, 'w').close()
        url = 'sqlite:///' + os.path.join(blocker, 'h.sqlite')
        with history_store.HistoryStore(url) as store:
            with self.assertRaises(history_store.HistoryUnavailable):
                store.upgrade()
            with self.assertRaises(history_store.HistoryUnavailable):
                store.record('alert', 'a')
            with self.assertRaises(history_store.HistoryUnavailable):
                store.open_incident('k', 'host')


class TestUnreachableServer(unittest.TestCase):
    """A server database nobody listens on (a closed loopback port)."""

    def setUp(self):
        with socket.socket() as probe:
            probe.bind(('127.0.0.1', 0))
            self.port = probe.getsockname()[1]

    def test_postgresql_down_raises_history_unavailable(self):
        url = 'postgresql+psycopg2://nova:s3cr3t@127.0.0.1:%d/h' % self.port
        store = history_store.HistoryStore(url)
        self.addCleanup(store.close)
        with self.assertRaises(history_store.HistoryUnavailable) as caught:
            store.record('alert', 'a')
        self.assertIn('127.0.0.1:%d' % self.port, str(caught.exception))
        self.assertNotIn('s3cr3t', str(caught.exception))
        self.assertNotIn('s3cr3t', repr(store))
        with self.assertRaises(history_store.HistoryUnavailable):
            store.query(host='x')

    def test_mysql_down_raises_history_unavailable(self):
        url = 'mysql+pymysql://nova:s3cr3t@127.0.0.1:%d/h' % self.port
        store = history_store.HistoryStore(url)
        self.addCleanup(store.close)
        with self.assertRaises(history_store.HistoryUnavailable) as caught:
            store.open_incident('host:c1', 'host')
        self.assertNotIn('s3cr3t', str(caught.exception))


class TestBadURL(unittest.TestCase):

    def test_garbage_url_is_a_clear_value_error_without_password(self):
        with self.assertRaisesRegex(ValueError, 'not an SQLAlchemy URL'):
            history_store.HistoryStore('not a url')
        with self.assertRaises(ValueError) as caught:
            history_store.HistoryStore('nosuchdb://u:s3cr3t@h/db')
        self.assertNotIn('s3cr3t', str(caught.exception))
