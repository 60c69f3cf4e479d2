"""The installed nova-ha-monitor command, run as a real process.

With Redis (host heartbeat) and RabbitMQ (events) on loopback: the monitor
heartbeats in the host group, keeps heartbeating while the "nova-compute"
it watches (a real daemon, SIGKILLed) cannot be restarted, reports
process.down over the broker, and on SIGTERM leaves the group and exits 0.
Without either service those tests skip (fail under CI=true); the
configuration-error tests need neither.
"""

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.compute_hooks import heartbeat
from nova_ha.notifier import events
from nova_ha.servicegroup import backend
from nova_ha.servicegroup import membership
from nova_ha.servicegroup import watcher
from tests.integration.compute_hooks import monitor_fixtures
from tests.integration.compute_hooks import process_daemons
from tests.integration.services import skip_or_fail
from tests.integration.services import rabbit_reachable
from tests.integration.services import RABBIT_URL
from tests.integration.services import REDIS
from tests.integration.services import require_redis

COMMAND = os.path.join(os.path.dirname(sys.executable), 'nova-ha-monitor')
DAEMONS = os.path.abspath(process_daemons.__file__)
INTERVAL = 0.1
DOWN_TIME = 1.0


class MonitorProcessTestCase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='nova-ha-monitor-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.host = 'compute-svc-%s' % uuid.uuid4().hex[:8]
        self.output = os.path.join(self.tmp, 'monitor.log')

    def write_config(self, text):
        path = os.path.join(self.tmp, 'nova-ha.conf')
        with open(path, 'w') as f:
            f.write(text)
        return path

    def run_monitor(self, config, *args):
        log = open(self.output, 'wb')
        self.addCleanup(log.close)
        process = subprocess.Popen(
            [COMMAND, '--config-file', config] + list(args),
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.addCleanup(self._end, process)
        return process

    @staticmethod
    def _end(process):
        if process.poll() is None:
            process.kill()
        process.wait()

    def logged(self):
        with open(self.output, errors='replace') as f:
            return f.read()


class TestConfigErrors(MonitorProcessTestCase):

    def test_unworkable_config_exits_2_with_the_option_named(self):
        config = self.write_config(
            '[monitor]\nhost = %s\nlibvirt_events = false\n'
            '[monitor_nova_compute]\ncheck = pidfile\n' % self.host)
        process = self.run_monitor(config)
        self.assertEqual(2, process.wait(60))
        self.assertIn('nova-ha-monitor cannot start: [monitor_nova_compute] '
                      'pid_file is required with check = pidfile',
                      self.logged())

    def peers_config(self, key_line):
        # Peer probes alone, on loopback: nothing else to start.
        return self.write_config('\n'.join([
            '[DEFAULT]', 'transport_url = fake://', 'debug = true',
            '[monitor]', 'host = %s' % self.host, 'libvirt_events = false',
            'host_heartbeat = false',
            '[monitor_nova_compute]', 'enabled = false',
            '[monitor_peers]', 'enabled = true', 'address = 127.0.0.1',
            'port = 0', 'peers = h2=127.0.0.2', key_line, '']))

    def test_peers_without_a_probe_key_exit_2_with_the_option_named(self):
        process = self.run_monitor(self.peers_config(''))
        self.assertEqual(2, process.wait(60))
        self.assertIn('nova-ha-monitor cannot start: [monitor_peers] key',
                      self.logged())

    def test_the_probe_key_never_reaches_the_log(self):
        key = 'probe-key-%s' % uuid.uuid4().hex
        process = self.run_monitor(self.peers_config('key = %s' % key))
        deadline = time.monotonic() + 60
        while 'nova-ha-monitor running' not in self.logged():
            self.assertIsNone(process.poll(), self.logged())
            self.assertLess(time.monotonic(), deadline, self.logged())
            time.sleep(0.1)
        time.sleep(0.5)           # a few probe rounds, logged at debug
        process.send_signal(signal.SIGTERM)
        self.assertEqual(0, process.wait(30), self.logged())
        self.assertIn('probing peers h2', self.logged())
        self.assertNotIn(key, self.logged())
        # No [monitor] event_key: the engines would refuse its events.
        self.assertIn('[monitor] event_key is not set', self.logged())

    def test_check_mode_prints_each_reading(self):
        config = self.write_config(
            '[monitor]\nhost = %s\n[monitor_nova_compute]\ncheck = pidfile\n'
            'pid_file = %s\nmax_restarts = 0\n'
            % (self.host, os.path.join(self.tmp, 'absent.pid')))
        process = self.run_monitor(config, '--check')
        self.assertEqual(1, process.wait(60))
        self.assertIn('nova-compute: down (pid file', self.logged())


class TestMonitorService(MonitorProcessTestCase):

    def setUp(self):
        super().setUp()
        require_redis(self)
        if not rabbit_reachable():
            skip_or_fail('RabbitMQ is not reachable on 127.0.0.1:5672')
        self.pid_file = os.path.join(self.tmp, 'nova-compute.pid')
        self.attempts = os.path.join(self.tmp, 'attempts.log')
        self.marker = 'fake-nova-compute-%s' % uuid.uuid4().hex
        self.addCleanup(process_daemons.end_all, self.attempts)
        self.topic = 'nova_ha_it_mon_%s' % uuid.uuid4().hex[:8]
        conf = cfg.ConfigOpts()
        conf([])
        transport = messaging.get_notification_transport(conf,
                                                         url=RABBIT_URL)
        self.addCleanup(transport.cleanup)
        self.recorder = monitor_fixtures.EventRecorder(transport, self.topic)
        self.recorder.start()
        self.addCleanup(self.recorder.stop)
        self.host_events = []
        self.host_view = watcher.HostLivenessWatcher(
            heartbeat.host_group_url(backend.timed_url(
                'redis://%s:%d' % REDIS, DOWN_TIME, INTERVAL)),
            heartbeat.HOST_GROUP, self.host_events.append,
            down_time=DOWN_TIME, poll_interval=0.05)
        self.host_view.start()
        self.addCleanup(self.host_view.stop)

    def config(self):
        return self.write_config('\n'.join([
            '[DEFAULT]',
            'transport_url = %s' % RABBIT_URL,
            '[engine]',
            'monitor_topic = %s' % self.topic,
            '[monitor]',
            'host = %s' % self.host,
            'libvirt_events = false',
            '[ha_servicegroup]',
            'backend_url = redis://%s:%d' % REDIS,
            'heartbeat_interval = %s' % INTERVAL,
            'down_time = %s' % DOWN_TIME,
            '[monitor_nova_compute]',
            'check = pidfile',
            'pid_file = %s' % self.pid_file,
            'command_pattern = %s$' % self.marker,
            'restart_command = %s %s fail %s' % (sys.executable, DAEMONS,
                                                 self.attempts),
            'check_interval = 0.1',
            'max_restarts = 2',
            'backoff_initial = 0.2',
            'start_timeout = 1',
            '']))

    def wait_host(self, state, timeout):
        deadline = time.monotonic() + timeout
        while self.host_view.state(self.host) != state:
            self.assertLess(time.monotonic(), deadline,
                            'host %s never %s; monitor output:\n%s' % (
                                self.host, state, self.logged()))
            time.sleep(0.05)

    def test_heartbeat_outlives_nova_compute_and_leaves_on_sigterm(self):
        process_daemons.main(['start', self.pid_file, self.marker,
                              self.attempts])
        with open(self.pid_file) as f:
            daemon = int(f.read())
        monitor = self.run_monitor(self.config())
        self.wait_host(membership.UP, 30)
        self.recorder.wait_types([events.PROCESS_UP], timeout=30)
        os.kill(daemon, signal.SIGKILL)
        self.recorder.wait_types([events.PROCESS_UP, events.PROCESS_DOWN],
                                 timeout=30)
        down = self.recorder.events[1]
        self.assertEqual((self.host, 'nova-compute', 'process-monitor'),
                         (down.host, down.process, down.source))
        # nova-compute is gone for good, the host is not.
        self.assertEqual(2, len(process_daemons.attempts(
            self.attempts)) - 1)
        self.assertEqual(membership.UP, self.host_view.state(self.host))
        self.assertEqual([], [e for e in self.host_events
                              if e.state == membership.DOWN])

        monitor.send_signal(signal.SIGTERM)
        self.assertEqual(0, monitor.wait(30), self.logged())
        # Left the group on the way out: read at once, not after expiry.
        reader = backend.connect(heartbeat.host_group_url(backend.timed_url(
            'redis://%s:%d' % REDIS, DOWN_TIME, INTERVAL)), 'it-reader')
        self.addCleanup(reader.stop)
        members = {m.decode() for m in reader.get_members(
            heartbeat.HOST_GROUP.encode()).get()}
        self.assertNotIn(self.host, members)
        self.assertIn('stopping nova-ha-monitor for host %s' % self.host,
                      self.logged())
