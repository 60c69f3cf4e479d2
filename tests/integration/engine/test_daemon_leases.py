"""nova-ha-engine's loop keeps its leases while it makes progress, and only
then; its workers start a guarded action only while the lease outlasts it.

Real parts: the machine's Redis (tooz leases with a 2 s TTL, a namespace
of each test's own), an SQLite history, openstacksdk against a server
standing in for nova-api (slow_nova).  The replica is a stand-in that
owns one incident and asks to look again only after a minute, so the
loop spends its time waiting, or stuck when the test says so.
"""

import os
import tempfile
import threading
import time
import types
import unittest
import uuid

from nova_ha.engine import daemon as engine_daemon
from nova_ha.engine import model
from nova_ha.engine import real_env
from nova_ha.history import store as history_store
from tests.integration.engine import slow_nova
from tests.integration import services

TTL = 2
NOVA_TIMEOUT = 1.0


class _Owner:
    """Stands in for the replica: owns ``key`` at generation 1, looks
    again after a minute, and blocks in a look while ``stuck`` is set."""

    wants_another_look = False

    def __init__(self, key):
        self.state = types.SimpleNamespace(
            incidents={key: types.SimpleNamespace(token=1)})
        self.stuck = threading.Event()
        self.unstuck = threading.Event()
        self.results = []

    def tick(self, now):
        if self.stuck.is_set():
            self.unstuck.wait(30)
        return now + 60.0

    def deliver(self, result):
        self.results.append(result)


class DaemonCase(unittest.TestCase):

    def setUp(self):
        services.require_redis()
        self.url = ('redis://%s:%d?lock_timeout=%d&socket_timeout=2&'
                    'namespace=nova-ha-test-%s' % (
                        services.REDIS + (TTL, uuid.uuid4().hex)))
        self.history = history_store.HistoryStore('sqlite:///' + os.path.join(
            tempfile.mkdtemp(prefix='nova-ha-history-'), 'history.sqlite'))
        self.addCleanup(self.history.close)
        self.history.upgrade()
        self.nova = slow_nova.SlowNova(self)

    def leases(self, name):
        leases = real_env.ToozLeases(self.url, name)
        self.addCleanup(leases.stop)
        return leases

    def daemon(self, fencer=None, **kwargs):
        env = real_env.RealEnvironment(
            'engine-1', self.nova.gateway(), self.history,
            self.leases('engine-1'), fencer, power_reader=None,
            nova_timeout=NOVA_TIMEOUT,
            fence_deadline=lambda host: TTL - 0.5)
        self.key = env.open_incident(slow_nova.HOST, 1, 'test').key
        d = engine_daemon.Daemon(env, settings=None, workers=1, **kwargs)
        d.replica = _Owner(self.key)
        self.addCleanup(d.stop, 5)
        return d


class TestLoopRenewsItsLeases(DaemonCase):

    def test_a_waiting_loop_keeps_its_lease_and_a_stuck_one_loses_it(self):
        d = self.daemon(renew_every=TTL / 4).start()
        other = self.leases('engine-2')
        # The core wants no look for a minute: the loop renews anyway.
        until = time.monotonic() + 3 * TTL
        while time.monotonic() < until:
            self.assertFalse(other.acquire(self.key))
            time.sleep(TTL / 4)
        # Stuck in a look (a silent database, say): nothing renews.
        d.replica.stuck.set()
        self.addCleanup(d.replica.unstuck.set)
        d.wake()
        time.sleep(TTL + 1.0)
        self.assertTrue(other.acquire(self.key))
        self.assertFalse(d.env.lease_valid(self.key, 1))


class TestWorkersCheckTheLeaseWhenTheyStart(DaemonCase):

    def test_an_action_that_waited_past_its_lease_is_not_started(self):
        # One worker: the force-down waits behind a fence.  When it was
        # queued its lease had the whole TTL left; when the worker picks
        # it up, less than the Nova call may take.
        fence_started = threading.Event()

        def slow_fence(host):
            fence_started.set()
            time.sleep(TTL - NOVA_TIMEOUT + 0.3)
            return 'fenced'
        d = self.daemon(fencer=slow_fence)
        d._submit(model.Fence(incident=self.key, token=1,
                              host=slow_nova.HOST))
        d._submit(model.ForceDown(incident=self.key, token=1,
                                  host=slow_nova.HOST, service_id='s1'))
        self.assertTrue(fence_started.wait(5))
        d.stop(10)
        fence, force_down = d.replica.results
        self.assertTrue(fence.ok, fence.error)
        self.assertFalse(force_down.ok)
        self.assertIn('StaleLease', force_down.error)
        self.assertEqual([], [r for r in self.nova.sent
                              if r[0] == 'PUT'])

    def test_an_action_with_lease_enough_starts(self):
        d = self.daemon()
        d._submit(model.ForceDown(incident=self.key, token=1,
                                  host=slow_nova.HOST, service_id='s1'))
        d.stop(10)
        (force_down,) = d.replica.results
        self.assertTrue(force_down.ok, force_down.error)
        self.assertEqual(['/v2.1/os-services/s1'],
                         [r[1] for r in self.nova.sent if r[0] == 'PUT'])
