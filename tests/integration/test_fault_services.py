"""The services fault tests cut and restart (nova_ha_testbed.fault_services).

Real parts: a private redis-server, a private PostgreSQL cluster, the TCP
proxy in front of the private Redis, and the machine's RabbitMQ broker,
which the last tests restart in place.
"""

import shutil
import socket
import subprocess
import tempfile
import time
import unittest

import redis
from redis import backoff
from redis import retry
import sqlalchemy as sa

from nova_ha_testbed import fault_services
from tests.integration.services import RABBITMQ
from tests.integration.services import reachable
from tests.integration.services import skip_or_fail


def no_retry_client(port, timeout=1.0):
    return redis.Redis(host='127.0.0.1', port=port, socket_timeout=timeout,
                       socket_connect_timeout=timeout,
                       retry=retry.Retry(backoff.NoBackoff(), 0))


class WorkdirTestCase(unittest.TestCase):

    def setUp(self):
        super().setUp()
        workdir = tempfile.TemporaryDirectory(prefix='nova-ha-faults-')
        self.addCleanup(workdir.cleanup)
        self.workdir = workdir.name

    def private_redis(self):
        try:
            server = fault_services.PrivateRedis(self.workdir)
        except fault_services.ServiceUnavailable as exc:
            skip_or_fail(str(exc))
        server.start()
        self.addCleanup(server.stop)
        return server


class TestFreePort(unittest.TestCase):

    def test_nothing_listens_on_it(self):
        port = fault_services.free_port()
        self.assertFalse(reachable(('127.0.0.1', port), timeout=0.5))


class TestTcpProxy(WorkdirTestCase):

    def setUp(self):
        super().setUp()
        self.redis = self.private_redis()
        self.proxy = fault_services.TcpProxy('127.0.0.1', self.redis.port)
        self.addCleanup(self.proxy.stop)

    def test_forwards(self):
        self.assertEqual(('127.0.0.1', self.proxy.port), self.proxy.address)
        client = no_retry_client(self.proxy.port)
        self.addCleanup(client.close)
        client.set('through', 'proxy')
        self.assertEqual(b'proxy', self.redis.client().get('through'))
        self.assertEqual(b'proxy', client.get('through'))

    def test_cut_is_silence_and_restore_serves_new_connections(self):
        client = no_retry_client(self.proxy.port, timeout=1.0)
        self.addCleanup(client.close)
        self.assertTrue(client.ping())

        self.proxy.cut()
        started = time.monotonic()
        with self.assertRaises(redis.exceptions.TimeoutError):
            client.ping()
        self.assertLess(time.monotonic() - started, 3.0)
        # A new connection is accepted, and gets no answer either.
        newcomer = no_retry_client(self.proxy.port, timeout=1.0)
        self.addCleanup(newcomer.close)
        with self.assertRaises(redis.exceptions.TimeoutError):
            newcomer.ping()
        # The server itself is fine: only the path to it is cut.
        self.assertTrue(self.redis.client().ping())

        self.proxy.restore()
        fresh = no_retry_client(self.proxy.port)
        self.addCleanup(fresh.close)
        self.assertTrue(fresh.ping())
        # The clients that timed out reconnect and are served again.
        self.assertTrue(client.ping())
        self.assertTrue(newcomer.ping())

    def test_cut_neither_forwards_nor_closes(self):
        sock = socket.create_connection(self.proxy.address, timeout=2.0)
        self.addCleanup(sock.close)
        sock.sendall(b'PING\r\n')
        self.assertEqual(b'+PONG\r\n', sock.recv(100))

        self.proxy.cut()
        sock.settimeout(0.5)
        sock.sendall(b'PING\r\n')
        # A timeout, not an end of stream: the socket stays open.
        with self.assertRaises(socket.timeout):
            sock.recv(100)
        # The command was dropped, not delivered late.
        self.proxy.restore()
        other = socket.create_connection(self.proxy.address, timeout=2.0)
        self.addCleanup(other.close)
        other.sendall(b'PING\r\n')
        self.assertEqual(b'+PONG\r\n', other.recv(100))

    def test_stop_closes_the_listener(self):
        client = no_retry_client(self.proxy.port)
        self.addCleanup(client.close)
        self.assertTrue(client.ping())
        started = time.monotonic()
        self.proxy.stop()
        self.assertLess(time.monotonic() - started, 2.0)
        self.assertFalse(reachable(self.proxy.address, timeout=0.5))
        with self.assertRaises(redis.exceptions.ConnectionError):
            client.ping()


class TestPrivateRedis(WorkdirTestCase):

    def test_url(self):
        server = self.private_redis()
        self.assertEqual('redis://127.0.0.1:%d' % server.port, server.url())
        self.assertEqual(
            'redis://127.0.0.1:%d?timeout=2&socket_timeout=1' % server.port,
            server.url(timeout=2, socket_timeout=1))

    def test_restart_loses_every_key(self):
        server = self.private_redis()
        port = server.port
        client = server.client()
        self.addCleanup(client.close)
        client.set('survives', 'no')
        self.assertEqual(b'no', client.get('survives'))

        server.restart(down_for=0.2)
        self.assertEqual(port, server.port)
        self.assertIsNone(client.get('survives'))

    def test_stopped_server_refuses_connections(self):
        server = self.private_redis()
        server.stop()
        self.assertFalse(reachable(server.address, timeout=0.5))
        with self.assertRaises(redis.exceptions.ConnectionError):
            server.client().ping()


class TestPrivatePostgreSQL(WorkdirTestCase):

    def setUp(self):
        super().setUp()
        try:
            self.pg = fault_services.PrivatePostgreSQL(self.workdir)
        except fault_services.ServiceUnavailable as exc:
            skip_or_fail(str(exc))
        self.addCleanup(self.pg.destroy)
        self.pg.start()

    def test_restart_keeps_the_data_and_drops_connections(self):
        url = self.pg.create_database('faults')
        self.assertEqual(
            'postgresql+psycopg2://postgres@127.0.0.1:%d/faults' %
            self.pg.port, url)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        self.addCleanup(engine.dispose)
        with engine.begin() as connection:
            connection.exec_driver_sql('CREATE TABLE kept (v text)')
            connection.exec_driver_sql("INSERT INTO kept VALUES ('row')")
        held = engine.connect()
        self.addCleanup(held.close)
        self.assertEqual(1, held.exec_driver_sql('SELECT 1').scalar())
        held.rollback()

        port = self.pg.port
        self.pg.restart(down_for=0.2)
        self.assertEqual(port, self.pg.port)

        with self.assertRaises(sa.exc.DBAPIError):
            held.exec_driver_sql('SELECT 1').scalar()
        with engine.connect() as connection:
            self.assertEqual(
                ['row'],
                connection.exec_driver_sql('SELECT v FROM kept').scalars()
                .all())

    def test_stopped_cluster_refuses_connections(self):
        self.pg.stop()
        self.assertFalse(reachable((self.pg.host, self.pg.port), 0.5))
        self.pg.start()
        self.assertTrue(reachable((self.pg.host, self.pg.port), 0.5))


class TestRestartRabbitMQ(unittest.TestCase):

    def setUp(self):
        super().setUp()
        if not shutil.which('rabbitmqctl'):
            skip_or_fail('rabbitmqctl is not installed')
        if not reachable(RABBITMQ):
            skip_or_fail('RabbitMQ is not reachable on %s:%d' % RABBITMQ)

    def assert_broker_serves(self):
        self.assertTrue(reachable(RABBITMQ))
        status = subprocess.run(['rabbitmqctl', 'status'],
                                stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, timeout=60)
        self.assertEqual(0, status.returncode)

    def test_restart_leaves_the_broker_serving(self):
        fault_services.restart_rabbitmq(down_for=0.5)
        self.assert_broker_serves()

    def test_started_again_when_the_caller_fails(self):
        class Failure(Exception):
            pass

        with self.assertRaises(Failure):
            with fault_services.rabbitmq_stopped():
                self.assertFalse(reachable(RABBITMQ, timeout=0.5))
                raise Failure()
        self.assert_broker_serves()
