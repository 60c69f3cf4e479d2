"""The real environment's side effects end before the lease checked for
them can lapse.

Real parts: the machine's Redis (tooz leases with a 2 s TTL, a namespace
of each test's own), an SQLite history, openstacksdk and keystoneauth
against a small HTTP server standing in for nova-api (slow_nova).
"""

import os
import tempfile
import threading
import time
import unittest
import uuid

import redis

from nova_ha.engine import model
from nova_ha.engine import real_env
from nova_ha.engine import replica
from nova_ha.fencing import base as fence_base
from nova_ha.history import store as history_store
from tests.integration.engine import slow_nova
from tests.integration import services

TTL = 2
NOVA_TIMEOUT = 1.0
# Thread hand-overs, a busy machine.
MARGIN = 0.5
HOST = slow_nova.HOST
VM = slow_nova.VM


class RealEnvCase(unittest.TestCase):

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
        self.fenced = []

    def leases(self, name):
        leases = real_env.ToozLeases(self.url, name)
        self.addCleanup(leases.stop)
        return leases

    def env(self, name='engine-1', fencer=None, fence_deadline=None):
        return real_env.RealEnvironment(
            name, self.nova.gateway(), self.history, self.leases(name),
            fencer or self.fenced.append, power_reader=None,
            nova_timeout=NOVA_TIMEOUT, fence_deadline=fence_deadline)

    def opened(self, env):
        stored = env.open_incident(HOST, 1, 'test')
        self.assertEqual(1, stored.generation)
        return stored.key


class TestLeaseValidWithin(RealEnvCase):

    def test_the_lease_must_outlast_the_side_effect(self):
        env = self.env()
        key = self.opened(env)
        self.assertTrue(env.lease_valid(key, 1))
        self.assertTrue(env.lease_valid(key, 1, within=TTL - 0.5))
        self.assertFalse(env.lease_valid(key, 1, within=TTL + 0.1))
        time.sleep(1.0)           # the loop has not renewed since
        self.assertFalse(env.lease_valid(key, 1, within=TTL - 0.5))
        self.assertTrue(env.lease_valid(key, 1, within=TTL - 1.5))
        self.assertTrue(env.renew(key, 1))
        self.assertTrue(env.lease_valid(key, 1, within=TTL - 0.5))

    def test_a_newer_generation_refuses_whatever_is_left(self):
        env = self.env()
        key = self.opened(env)
        self.assertEqual(2, self.history.claim_incident(key, 'engine-2', 1))
        self.assertFalse(env.lease_valid(key, 1))
        self.assertFalse(env.lease_valid(key, 1, within=0.5))

    def test_a_lease_the_backend_gave_another_is_refused(self):
        env = self.env()
        key = self.opened(env)
        lock = env.leases._locks[key].name
        client = redis.Redis(*services.REDIS, socket_timeout=2)
        self.addCleanup(client.close)
        client.delete(lock)          # as after a restart of Redis
        self.assertTrue(self.leases('engine-2').acquire(key))
        self.assertGreater(env.leases.time_left(key), 1.0)
        self.assertFalse(env.lease_valid(key, 1))

    def test_a_paused_owner_is_refused_at_the_side_effect(self):
        # The check the replica makes just before a guarded action: an
        # owner paused after its last renewal for most of the lease may
        # not start a Nova call that could outlive it.
        env = self.env()
        key = self.opened(env)
        evacuate = model.Evacuate(incident=key, token=1, vm=VM)
        time.sleep(TTL - NOVA_TIMEOUT + 0.2)
        self.assertFalse(env.lease_valid(
            key, 1, within=env.side_effect_timeout(evacuate)))
        self.assertTrue(env.renew(key, 1))
        self.assertTrue(env.lease_valid(
            key, 1, within=env.side_effect_timeout(evacuate)))


class TestSideEffectTimeout(RealEnvCase):

    def test_each_side_effect_has_its_bound(self):
        env = self.env(fence_deadline={HOST: 7.5}.get)
        for action in (model.ForceDown(host=HOST), model.Disable(host=HOST),
                       model.Evacuate(vm=VM), model.ResetStaleTask(vm=VM),
                       model.SetPower(vm=VM, want='ACTIVE'),
                       model.ReleaseReserved(host=HOST, aggregate='1')):
            self.assertEqual(NOVA_TIMEOUT, env.side_effect_timeout(action))
        self.assertEqual(7.5, env.side_effect_timeout(model.Fence(host=HOST)))
        # Fenced by the history itself, or not guarded.
        for action in (model.Save(), model.ClearRequest(),
                       model.Note(), model.ReadPower(host=HOST)):
            self.assertEqual(0.0, env.side_effect_timeout(action))

    def test_a_fence_that_overruns_its_deadline_is_given_up(self):
        release = threading.Event()
        self.addCleanup(release.set)

        def stuck_driver(host):
            release.wait(30)         # a BMC call that ignores its timeout
            return 'too late'
        env = self.env(fencer=stuck_driver, fence_deadline=lambda h: 1.0)
        began = time.monotonic()
        with self.assertRaises(real_env.FenceTimeout):
            env.fence(HOST)
        self.assertLess(time.monotonic() - began, 1.0 + MARGIN)

    def test_a_fence_within_its_deadline_returns_its_result(self):
        result = fence_base.FenceResult(
            host=HOST, driver='ipmi', outcome=fence_base.FenceOutcome.FENCED,
            power_state=fence_base.PowerState.OFF, detail='off',
            elapsed_s=0.1, attempts=1)
        env = self.env(fencer=lambda host: result,
                       fence_deadline=lambda h: 1.0)
        self.assertIs(result, env.fence(HOST))
        env = self.env('engine-2', fencer=lambda host: 1 / 0,
                       fence_deadline=lambda h: 1.0)
        with self.assertRaises(ZeroDivisionError):
            env.fence(HOST)

    def test_a_slow_nova_call_ends_by_the_deadline(self):
        self.nova.delay[('POST', '/v2.1/servers/')] = 3.0
        env = self.env()
        began = time.monotonic()
        with self.assertRaises(Exception):
            env.evacuate(VM, keep_running=True)
        self.assertLess(time.monotonic() - began, NOVA_TIMEOUT + MARGIN)

    def test_no_request_leaves_after_the_deadline(self):
        env = self.env()
        with env._requests.until(0.0):
            with self.assertRaises(real_env.SideEffectDeadline):
                env.nova.start(VM)
        self.assertEqual([], self.nova.posts())

    def test_a_reset_after_reads_that_took_the_time_is_never_sent(self):
        # The reads before a reset take the whole time: the reset, which
        # would come after the lease checked for it, is never sent.
        self.nova.delay[('GET', '/v2.1/servers/')] = 0.6
        self.nova.delay[('GET', '/v2.1/os-migrations')] = 0.6
        env = self.env()
        key = self.opened(env)
        action = model.ResetStaleTask(incident=key, token=1, vm=VM,
                                      source=HOST, task_state='rebuilding')
        began = time.monotonic()
        result = replica.run_action(env, action)
        self.assertLess(time.monotonic() - began, NOVA_TIMEOUT + MARGIN)
        self.assertFalse(result.ok)
        self.assertEqual([], self.nova.posts())
        # Without the delays the same action resets the task.
        self.nova.delay.clear()
        self.assertTrue(env.renew(key, 1))
        result = replica.run_action(env, action)
        self.assertTrue(result.ok, result.error)
        self.assertEqual('reset', result.value)
        self.assertEqual(1, len(self.nova.posts()))

    def test_calls_outside_a_side_effect_are_not_held(self):
        self.nova.delay[('POST', '/v2.1/servers/')] = NOVA_TIMEOUT + 0.5
        env = self.env()
        with self.assertRaises(Exception):
            env.evacuate(VM, keep_running=True)
        # The VM flows share the connection: their calls keep the SDK's
        # own timeout.
        env.nova.evacuate(VM, keep_running=True)
        self.assertEqual(2, len(self.nova.posts()))
