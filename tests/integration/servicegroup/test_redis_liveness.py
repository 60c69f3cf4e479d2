"""Liveness on a real Redis (127.0.0.1:6379) with real member processes.

A member is a separate process (python -m nova_ha.servicegroup.member)
heartbeating through the same Heartbeater Nova services use; the watcher
is the one the driver and the engine use.  The backend outage test puts a
loopback TCP relay between the watcher and Redis and closes it: the only
way to cut one client off a shared Redis without stopping it for others.
"""

import signal
import socket
import subprocess
import sys
import threading
import time
import unittest
import uuid

from nova_ha.servicegroup import backend
from nova_ha.servicegroup import membership
from nova_ha.servicegroup import watcher
from tests.integration.services import REDIS
from tests.integration.services import require_redis

DOWN_TIME = 2.0
INTERVAL = 0.5
POLL = 0.1


class Relay:
    """A loopback TCP relay to Redis that can be cut."""

    def __init__(self, target):
        self.target = target
        self.server = socket.create_server(('127.0.0.1', 0))
        self.port = self.server.getsockname()[1]
        self.sockets = []
        self.open = True
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while self.open:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.open:
                client.close()
                return
            upstream = socket.create_connection(self.target)
            self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b),
                                 daemon=True).start()

    @staticmethod
    def _pipe(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass

    def cut(self):
        self.open = False
        try:
            # Wakes the blocked accept(); close() alone would not.
            self.server.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.server.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass


class LivenessTestBase(unittest.TestCase):

    def setUp(self):
        require_redis(self)
        self.group = 'nova-ha.test-%s' % uuid.uuid4().hex[:8]
        self.url = backend.timed_url('redis://%s:%d' % REDIS, DOWN_TIME,
                                     INTERVAL)
        self.events = []

    def start_member(self, host):
        proc = subprocess.Popen(
            [sys.executable, '-m', 'nova_ha.servicegroup.member', self.url,
             self.group, host, '--heartbeat-interval', str(INTERVAL),
             '--down-time', str(DOWN_TIME)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.addCleanup(self._reap, proc)
        self.assertEqual('ready', proc.stdout.readline().strip())
        return proc

    @staticmethod
    def _reap(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.kill()
        proc.wait()

    def start_watcher(self, url=None):
        w = watcher.HostLivenessWatcher(url or self.url, self.group,
                                        self.events.append,
                                        down_time=DOWN_TIME,
                                        poll_interval=POLL)
        w.start()
        self.addCleanup(w.stop)
        return w

    def wait_state(self, w, host, state, timeout):
        deadline = time.monotonic() + timeout
        while w.state(host) != state:
            if time.monotonic() > deadline:
                self.fail('%s not %s after %.1fs (is %s)'
                          % (host, state, timeout, w.state(host)))
            time.sleep(0.02)

    def downs(self):
        return [e for e in self.events if e.state == membership.DOWN]


class TestMemberProcesses(LivenessTestBase):

    def test_sigkilled_member_is_reported_down_within_down_time(self):
        proc = self.start_member('host-k')
        w = self.start_watcher()
        self.wait_state(w, 'host-k', membership.UP, 5)
        killed = time.monotonic()
        proc.send_signal(signal.SIGKILL)
        self.wait_state(w, 'host-k', membership.DOWN, DOWN_TIME + 3)
        detection = time.monotonic() - killed
        self.assertLessEqual(detection, DOWN_TIME + POLL + 0.5)
        self.assertEqual(['host-k'], [e.host for e in self.downs()])

    def test_member_paused_shorter_than_down_time_stays_up(self):
        proc = self.start_member('host-p')
        w = self.start_watcher()
        self.wait_state(w, 'host-p', membership.UP, 5)
        # Tolerated: pause + one heartbeat interval < down_time.
        pause = DOWN_TIME - INTERVAL - 0.4
        proc.send_signal(signal.SIGSTOP)
        stopped = threading.Event()
        stopped.wait(pause)
        proc.send_signal(signal.SIGCONT)
        # Watch for twice the down time: no down event, ever.
        threading.Event().wait(2 * DOWN_TIME)
        self.assertEqual(membership.UP, w.state('host-p'))
        self.assertEqual([], self.downs())

    def test_member_paused_longer_is_down_then_up_again(self):
        proc = self.start_member('host-l')
        w = self.start_watcher()
        self.wait_state(w, 'host-l', membership.UP, 5)
        proc.send_signal(signal.SIGSTOP)
        self.wait_state(w, 'host-l', membership.DOWN, DOWN_TIME + 3)
        proc.send_signal(signal.SIGCONT)
        # It re-joins by itself (Redis dropped it from the group).
        self.wait_state(w, 'host-l', membership.UP, 3)


class TestBackendOutage(LivenessTestBase):

    def test_outage_falls_back_without_any_host_down(self):
        for host in ('h1', 'h2', 'h3'):
            self.start_member(host)
        relay = Relay(REDIS)
        url = self.url.replace(':%d' % REDIS[1], ':%d' % relay.port)
        w = self.start_watcher(url)
        for host in ('h1', 'h2', 'h3'):
            self.wait_state(w, host, membership.UP, 5)
        with self.assertLogs('nova_ha.servicegroup.watcher', 'WARNING') as log:
            relay.cut()
            # The view is no longer believed: Nova's DB rule answers.
            for host in ('h1', 'h2', 'h3'):
                self.wait_state(w, host, membership.UNKNOWN, DOWN_TIME + 3)
        self.assertIn("Nova's database heartbeat", '\n'.join(log.output))
        self.assertFalse(w.healthy)
        self.assertEqual([], self.downs())
