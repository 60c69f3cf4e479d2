"""The host heartbeat in the tooz group the engine reads, on real backends.

Read back with the engine's own HostLivenessWatcher, on tooz's file driver
(always available) and on Redis (127.0.0.1:6379; skipped when absent,
failed under CI=true).
"""

import shutil
import tempfile
import threading
import time
import unittest
import uuid

from nova_ha.compute_hooks import heartbeat
from nova_ha.servicegroup import backend
from nova_ha.servicegroup import membership
from nova_ha.servicegroup import watcher
from tests.integration.services import REDIS
from tests.integration.services import require_redis

INTERVAL = 0.1
DOWN_TIME = 1.0
POLL = 0.05


class HeartbeatContract(unittest.TestCase):

    def test_host_group_name_is_the_engine_contract(self):
        # The engine watches this group by name: renaming it silently
        # would make every host look dead.
        self.assertEqual('nova-ha.nova-ha-host', heartbeat.HOST_GROUP)


class HeartbeatOnBackend:
    """Mixed into a TestCase per backend; ``base_url`` is the backend."""

    def setUp(self):
        super().setUp()
        self.url = backend.timed_url(self.base_url(), DOWN_TIME, INTERVAL)
        self.host = 'compute-hb-%s' % uuid.uuid4().hex[:8]
        self.events = []

    def start_heartbeat(self):
        beat = heartbeat.HostHeartbeat(self.url, self.host, INTERVAL,
                                       DOWN_TIME)
        beat.start()
        self.addCleanup(beat.stop)
        self.assertTrue(beat.wait_first_beat(10), 'no heartbeat')
        return beat

    def start_watcher(self):
        view = watcher.HostLivenessWatcher(
            self.url, heartbeat.HOST_GROUP, self.events.append,
            down_time=DOWN_TIME, poll_interval=POLL)
        view.start()
        self.addCleanup(view.stop)
        return view

    def wait_state(self, view, state, timeout):
        deadline = time.monotonic() + timeout
        while view.state(self.host) != state:
            self.assertLess(time.monotonic(), deadline, '%s never %s (%s)' % (
                self.host, state, view.state(self.host)))
            time.sleep(0.02)

    def members(self):
        """The group's members, read straight from the backend."""
        reader = backend.connect(self.url, 'reader-%s' % uuid.uuid4().hex)
        try:
            return {m.decode() for m in reader.get_members(
                heartbeat.HOST_GROUP.encode()).get()}
        finally:
            reader.stop()

    def test_member_while_running_gone_at_once_on_stop(self):
        beat = self.start_heartbeat()
        view = self.start_watcher()
        self.wait_state(view, membership.UP, 5)
        self.assertIn(self.host, self.members())
        beat.stop()
        # It left the group: gone at once, not down_time later.
        self.assertNotIn(self.host, self.members())
        self.wait_state(view, membership.DOWN, DOWN_TIME + 3)

    def test_keeps_the_host_up_beyond_down_time(self):
        self.start_heartbeat()
        view = self.start_watcher()
        self.wait_state(view, membership.UP, 5)
        # Three expiry periods: a heartbeat that stopped would be dropped.
        threading.Event().wait(3 * DOWN_TIME)
        self.assertEqual(membership.UP, view.state(self.host))
        self.assertEqual([], [e for e in self.events
                              if e.state == membership.DOWN])


class TestHeartbeatOnFileBackend(HeartbeatOnBackend, unittest.TestCase):

    def base_url(self):
        path = tempfile.mkdtemp(prefix='nova-ha-hb-')
        self.addCleanup(shutil.rmtree, path, True)
        return backend.embedded_url(path)


class TestHeartbeatOnRedis(HeartbeatOnBackend, unittest.TestCase):

    def base_url(self):
        require_redis(self)
        return 'redis://%s:%d' % REDIS
