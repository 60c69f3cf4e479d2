"""The engine's leases on a real Redis: kept only while the loop renews
them, cut off and restarted.

Real parts: the machine's Redis (a namespace of each test's own), a
private redis-server and a TCP proxy in front of it (see
nova_ha_testbed.fault_services), tooz's Redis driver.
"""

import tempfile
import time
import unittest
import uuid

import redis

from nova_ha.engine import env as engine_env
from nova_ha.engine import real_env

from nova_ha_testbed import fault_services
from tests.integration import services

SOCKET_TIMEOUT = 2


class TestToozLeasesOnRedis(unittest.TestCase):

    def setUp(self):
        workdir = tempfile.mkdtemp(prefix='nova-ha-leases-')
        try:
            self.redis = fault_services.PrivateRedis(workdir)
        except fault_services.ServiceUnavailable as e:
            services.skip_or_fail(str(e))
        self.redis.start()
        self.addCleanup(self.redis.stop)
        self.proxy = fault_services.TcpProxy('127.0.0.1', self.redis.port)
        self.addCleanup(self.proxy.stop)

    def leases(self, name):
        leases = real_env.ToozLeases(
            'redis://127.0.0.1:%d?lock_timeout=5&socket_timeout=%d' % (
                self.proxy.port, SOCKET_TIMEOUT), name)
        self.addCleanup(leases.coordinator.stop)
        # Stopping the coordinator releases its locks through the proxy.
        self.addCleanup(self.proxy.restore)
        return leases

    def test_a_cut_link_fails_a_renewal_within_the_socket_timeout(self):
        # redis-py retries a timed-out command three times with back-off
        # unless told not to: a cut link held the engine's loop for 26 s,
        # five times the lease itself.
        leases = self.leases('engine-1')
        self.assertTrue(leases.acquire('k'))
        self.proxy.cut()
        began = time.monotonic()
        self.assertFalse(leases.renew('k'))
        self.assertLess(time.monotonic() - began, SOCKET_TIMEOUT + 1.5)
        began = time.monotonic()
        with self.assertRaises(engine_env.Unavailable):
            leases.acquire('other')
        self.assertLess(time.monotonic() - began, SOCKET_TIMEOUT + 1.5)

    def test_a_restarted_redis_takes_every_lease_away(self):
        leases = self.leases('engine-1')
        self.assertTrue(leases.acquire('k'))
        self.redis.restart()
        self.assertFalse(leases.renew('k'))
        other = self.leases('engine-2')
        self.assertTrue(other.acquire('k'))
        self.assertFalse(leases.acquire('k'))

    def test_a_renewal_counts_from_before_its_request(self):
        # Redis answers the renewal a second late (CLIENT PAUSE delays
        # every other client's commands): the lease counts from the moment
        # the request left, never from its answer, so it cannot outlast
        # Redis's own expiry.
        leases = self.leases('engine-1')
        self.assertTrue(leases.acquire('k'))
        self.redis.client().execute_command('CLIENT', 'PAUSE', 1000)
        began = time.monotonic()
        self.assertTrue(leases.renew('k'))
        self.assertGreater(time.monotonic() - began, 0.9)
        self.assertLess(leases.time_left('k'), 5 - 0.9)

    def test_a_failed_renewal_extends_nothing(self):
        leases = self.leases('engine-1')
        self.assertTrue(leases.acquire('k'))
        self.proxy.cut()
        self.assertFalse(leases.renew('k'))
        self.assertEqual(0.0, leases.time_left('k'))
        self.assertFalse(leases.held_here('k'))


TTL = 2


class TestLeasesLiveOnlyWhileTheLoopRenewsThem(unittest.TestCase):
    """tooz's heart used to extend every lock the coordinator held, so a
    loop blocked for minutes (on a silent database, say) kept its
    incidents, and could wake up and act on them."""

    def setUp(self):
        services.require_redis()
        self.url = ('redis://%s:%d?lock_timeout=%d&socket_timeout=2&'
                    'namespace=nova-ha-test-%s' % (
                        services.REDIS + (TTL, uuid.uuid4().hex)))

    def leases(self, name):
        leases = real_env.ToozLeases(self.url, name)
        self.addCleanup(leases.stop)
        return leases

    def test_a_lease_its_loop_stops_renewing_lapses_for_another(self):
        stuck = self.leases('engine-1')
        other = self.leases('engine-2')
        self.assertTrue(stuck.acquire('k'))
        self.assertFalse(other.acquire('k'))
        time.sleep(TTL + 1.0)        # the loop is blocked: no renewal
        self.assertTrue(other.acquire('k'))
        # The blocked loop wakes up: the lease is not its any more, and
        # by its own clock it had lapsed already.
        self.assertEqual(0.0, stuck.time_left('k'))
        self.assertFalse(stuck.renew('k'))

    def test_a_lease_its_loop_renews_is_kept(self):
        alive = self.leases('engine-1')
        other = self.leases('engine-2')
        self.assertTrue(alive.acquire('k'))
        until = time.monotonic() + 3 * TTL
        while time.monotonic() < until:
            time.sleep(TTL / 4)
            self.assertTrue(alive.renew('k'))
            self.assertFalse(other.acquire('k'))
        self.assertGreater(alive.time_left('k'), TTL / 2)

    def test_the_local_expiry_is_never_later_than_redis(self):
        leases = self.leases('engine-1')
        self.assertTrue(leases.acquire('k'))
        lock_name = leases._locks['k'].name
        client = redis.Redis(*services.REDIS, socket_timeout=2)
        self.addCleanup(client.close)
        for renewed in (False, True):
            if renewed:
                time.sleep(0.5)
                self.assertTrue(leases.renew('k'))
            redis_left = client.pttl(lock_name) / 1000.0
            left = leases.time_left('k')     # read after Redis's
            self.assertLessEqual(left, redis_left + 0.001)
            self.assertGreater(left, TTL - 0.5)

    def test_without_a_ttl_a_lease_lasts_until_released(self):
        leases = real_env.ToozLeases(
            'file://' + tempfile.mkdtemp(prefix='nova-ha-leases-'), 'e-1')
        self.addCleanup(leases.stop)
        self.assertIsNone(leases.ttl)
        self.assertTrue(leases.acquire('k'))
        self.assertEqual(float('inf'), leases.time_left('k'))
        leases.release('k')
        self.assertEqual(0.0, leases.time_left('k'))
