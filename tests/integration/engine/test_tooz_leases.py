"""The engine's leases on a real Redis, cut off and restarted.

Real parts: a private redis-server and a TCP proxy in front of it (see
nova_ha.testing.fault_services), tooz's Redis driver.
"""

import tempfile
import time
import unittest

from nova_ha.engine import env as engine_env
from nova_ha.engine import real_env
from nova_ha.testing import fault_services
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
        # tooz's heartbeat thread retries until Redis answers again, and
        # stopping the coordinator waits for it.
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
