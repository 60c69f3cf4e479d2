"""The process monitor on real processes, publishing on a real transport.

The watched "nova-compute" is a real daemon (process_daemons.py, a python
sleeping in its own session with a pid file), SIGKILLed by the test; the
restart command is that same script run as a real command (starting a new
daemon, failing, or starting nothing).  Events go through oslo.messaging's
fake:// transport to a real notification listener and are parsed with the
engine's own parser.  Intervals are tenths of a second.
"""

import os
import shutil
import signal
import sys
import tempfile
import threading
import unittest
import uuid

from oslo_config import cfg
import oslo_messaging as messaging

from nova_ha.compute_hooks import process_checks
from nova_ha.compute_hooks import process_decision as decision
from nova_ha.compute_hooks import process_monitor
from nova_ha.compute_hooks import publisher
from nova_ha.notifier import events
from nova_ha.notifier import listener
from tests.integration.compute_hooks import monitor_fixtures
from tests.integration.compute_hooks import process_daemons
from tests.integration.services import wait_until

DAEMONS = os.path.abspath(process_daemons.__file__)
HOST = 'compute-it-1'
INTERVAL = 0.05
POLICY = decision.RestartPolicy(confirm_checks=2, max_restarts=3,
                                restart_window=60.0, backoff_initial=0.2,
                                backoff_factor=2.0, backoff_max=0.4,
                                start_timeout=0.6)


class ProcessMonitorTestCase(unittest.TestCase):

    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix='nova-ha-procmon-')
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.pid_file = os.path.join(self.tmp, 'nova-compute.pid')
        self.log = os.path.join(self.tmp, 'attempts.log')
        self.marker = 'fake-nova-compute-%s' % uuid.uuid4().hex
        self.addCleanup(process_daemons.end_all, self.log)
        conf = cfg.ConfigOpts()
        conf([])
        transport = messaging.get_notification_transport(conf,
                                                         url='fake://')
        self.addCleanup(transport.cleanup)
        topic = 'nova_ha_it_%s' % uuid.uuid4().hex[:8]
        self.recorder = monitor_fixtures.EventRecorder(transport, topic)
        self.recorder.start()
        self.addCleanup(self.recorder.stop)
        self.notifier = listener.monitor_notifier(
            transport, topic, 'nova-ha-monitor.' + HOST)
        self.publisher = publisher.EventPublisher(self.notifier, HOST,
                                                  'process-monitor')

    # -- the stand-in init script ---------------------------------------

    def command(self, mode):
        if mode == 'start':
            return [sys.executable, DAEMONS, 'start', self.pid_file,
                    self.marker, self.log]
        return [sys.executable, DAEMONS, mode, self.log]

    def start_daemon(self):
        """Start it as init would (not counted as a monitor restart)."""
        result = process_checks.RestartCommand(self.command('start'), 10)()
        self.assertTrue(result.ok, result.detail)
        return self.daemon_pid()

    def daemon_pid(self):
        with open(self.pid_file) as f:
            return int(f.read())

    def restarts(self):
        """Calls of the restart command made by the monitor."""
        return process_daemons.attempts(self.log)[self.init_calls:]

    # -- the monitor ------------------------------------------------------

    def monitor(self, restart_mode, check=None, policy=POLICY):
        self.init_calls = len(process_daemons.attempts(self.log))
        check = check or process_checks.PidFileCheck(self.pid_file,
                                                     self.marker)
        monitor = process_monitor.ProcessMonitor(
            'nova-compute', check,
            process_checks.RestartCommand(self.command(restart_mode), 10),
            policy, self.publisher, INTERVAL)
        monitor.start()
        self.addCleanup(monitor.stop)
        return monitor

    def wait_checks(self, monitor, count):
        """Let ``count`` more checks happen."""
        target = monitor.checks + count
        wait_until(lambda: monitor.checks >= target, 15,
                   '%d more checks' % count)

    def kill_daemon(self):
        os.kill(self.daemon_pid(), signal.SIGKILL)


class TestRestarts(ProcessMonitorTestCase):

    def test_killed_process_is_restarted_and_nothing_reported(self):
        first = self.start_daemon()
        monitor = self.monitor('start')
        # Seen up at start: announced once (clears a down a previous
        # monitor may have reported before a reboot).
        self.recorder.wait_types([events.PROCESS_UP])
        self.kill_daemon()
        wait_until(lambda: len(self.restarts()) == 1 and
                   monitor.watch.phase == decision.RUNNING, 15,
                   'restarted and confirmed up')
        second = self.daemon_pid()
        self.assertNotEqual(first, second)
        self.assertEqual(decision.UP, monitor.check().state)
        self.wait_checks(monitor, 10)
        self.assertEqual([events.PROCESS_UP], self.recorder.types())
        self.assertEqual(1, len(self.restarts()))

    def test_command_line_check_sees_the_kill_and_the_restart(self):
        self.start_daemon()
        monitor = self.monitor('start', check=process_checks.CommandLineCheck(
            r'time\.sleep\(600\) %s$' % self.marker))
        self.recorder.wait_types([events.PROCESS_UP])
        for round_ in (1, 2):
            self.kill_daemon()
            wait_until(lambda: len(self.restarts()) == round_ and
                       monitor.watch.phase == decision.RUNNING, 15,
                       'restart %d confirmed' % round_)
        self.wait_checks(monitor, 5)
        self.assertEqual([events.PROCESS_UP], self.recorder.types())

    def test_pid_file_rewritten_under_a_running_process_is_no_failure(self):
        pid = self.start_daemon()
        monitor = self.monitor('start')
        self.recorder.wait_types([events.PROCESS_UP])
        stop = threading.Event()

        def rewrite():
            # Truncated, then written: what a non-atomic writer does.
            while not stop.is_set():
                with open(self.pid_file, 'w') as f:
                    f.flush()
                    stop.wait(0.01)
                    f.write('%d\n' % pid)
                stop.wait(0.3)
        writer = threading.Thread(target=rewrite, daemon=True)
        writer.start()
        try:
            self.wait_checks(monitor, 40)
        finally:
            stop.set()
            writer.join()
        self.assertEqual([], self.restarts())
        self.assertEqual([events.PROCESS_UP], self.recorder.types())
        self.assertEqual(pid, self.daemon_pid())


class TestGivingUp(ProcessMonitorTestCase):

    def test_failing_restart_is_bounded_reported_once_then_back(self):
        self.start_daemon()
        monitor = self.monitor('fail')
        self.recorder.wait_types([events.PROCESS_UP])
        self.kill_daemon()
        self.recorder.wait_types([events.PROCESS_UP, events.PROCESS_DOWN])
        attempts = self.restarts()
        self.assertEqual(['fail'] * POLICY.max_restarts,
                         [mode for _, mode, _ in attempts])
        # Back-off: 0.2 s, then 0.4 s (on top of confirming each failure).
        gaps = [b[0] - a[0] for a, b in zip(attempts, attempts[1:])]
        self.assertGreaterEqual(gaps[0], 0.2)
        self.assertGreaterEqual(gaps[1], 0.4)
        down = self.recorder.events[1]
        self.assertEqual(('nova-compute', HOST, 'process-monitor'),
                         (down.process, down.host, down.source))
        self.assertIn('giving up', down.detail)
        # Given up: neither restarted nor reported again while it stays
        # down.
        self.wait_checks(monitor, 20)
        self.assertEqual(POLICY.max_restarts, len(self.restarts()))
        self.assertEqual([events.PROCESS_UP, events.PROCESS_DOWN],
                         self.recorder.types())
        # The operator starts it: reported up exactly once.
        self.start_daemon()
        self.recorder.wait_types([events.PROCESS_UP, events.PROCESS_DOWN,
                                  events.PROCESS_UP])
        self.wait_checks(monitor, 10)
        self.assertEqual(3, len(self.recorder.types()))
        self.assertEqual([], self.recorder.rejections)

    def test_restart_that_starts_nothing_fails_after_start_timeout(self):
        self.start_daemon()
        policy = decision.RestartPolicy(
            confirm_checks=2, max_restarts=2, restart_window=60.0,
            backoff_initial=0.1, backoff_factor=2.0, backoff_max=1.0,
            start_timeout=0.5)
        monitor = self.monitor('nothing', policy=policy)
        self.recorder.wait_types([events.PROCESS_UP])
        self.kill_daemon()
        self.recorder.wait_types([events.PROCESS_UP, events.PROCESS_DOWN])
        attempts = self.restarts()
        self.assertEqual(2, len(attempts))
        # The command "succeeded": only start_timeout tells the failure.
        self.assertGreaterEqual(attempts[1][0] - attempts[0][0], 0.5)
        self.assertIn('not up 0.5s after its restart',
                      self.recorder.events[1].detail)
        self.assertEqual(decision.GAVE_UP, monitor.watch.phase)

    def test_unpublishable_report_is_sent_once_the_bus_is_back(self):
        """The notifier fails the first two sends (stands in for a broker
        outage, which fake:// cannot have), then is the real one."""
        self.start_daemon()
        real = self.notifier
        failures = []

        class FlakyNotifier:
            def info(self, ctxt, event_type, payload):
                if len(failures) < 2:
                    failures.append(event_type)
                    raise messaging.MessageDeliveryFailure('broker down')
                real.info(ctxt, event_type, payload)

        self.publisher = publisher.EventPublisher(FlakyNotifier(), HOST,
                                                  'process-monitor')
        self.monitor('start')
        self.recorder.wait_types([events.PROCESS_UP])
        self.assertEqual([events.PROCESS_UP] * 2, failures)
