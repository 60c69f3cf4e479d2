"""nova-ha-monitor's assembly from its options, and its config errors."""

import sys
import types
import unittest
from unittest import mock

from oslo_config import cfg
from oslo_config import fixture as config_fixture

from nova_ha import conf as ha_conf
from nova_ha.compute_hooks import process_checks
from nova_ha.compute_hooks import service


class ServiceConfTestCase(unittest.TestCase):

    def setUp(self):
        conf = cfg.ConfigOpts()
        for module in ha_conf._MODULES:
            module.register_opts(conf)
        self.fixture = config_fixture.Config(conf)
        self.fixture.setUp()
        self.addCleanup(self.fixture.cleanUp)
        self.conf = conf
        conf([])

    def set(self, group, **options):
        self.fixture.config(group=group, **options)

    def monitors(self):
        return service.process_monitors(self.conf, publisher=None)

    def assertConfigError(self, *fragments):
        with self.assertRaises(service.MonitorConfigError) as caught:
            self.monitors()
        for fragment in fragments:
            self.assertIn(fragment, str(caught.exception))


class TestProcessMonitorsFromConf(ServiceConfTestCase):

    def test_defaults_watch_nova_compute_through_systemd(self):
        (monitor,) = self.monitors()
        self.assertEqual('nova-compute', monitor.process)
        self.assertIsInstance(monitor.check, process_checks.SystemdCheck)
        self.assertEqual('nova-compute.service', monitor.check.unit)
        self.assertEqual(['systemctl', 'restart', 'nova-compute.service'],
                         monitor.restart.argv)
        self.assertEqual(3, monitor.watch.policy.max_restarts)

    def test_libvirtd_is_watched_when_enabled(self):
        self.set('monitor_libvirtd', enabled=True)
        self.set('monitor_nova_compute', enabled=False)
        (monitor,) = self.monitors()
        self.assertEqual('libvirtd', monitor.process)
        self.assertEqual('libvirtd.service', monitor.check.unit)

    def test_pid_file_check_with_restart_command(self):
        self.set('monitor_nova_compute', check='pidfile',
                 pid_file='/run/nova/nova-compute.pid',
                 restart_command="sh -c 'start-nova-compute --now'",
                 max_restarts=5, backoff_initial=0.5, start_timeout=9)
        (monitor,) = self.monitors()
        self.assertEqual('/run/nova/nova-compute.pid', monitor.check.pid_file)
        # The pid-reuse guard is on by default.
        self.assertIsNotNone(monitor.check.pattern)
        self.assertEqual(['sh', '-c', 'start-nova-compute --now'],
                         monitor.restart.argv)
        policy = monitor.watch.policy
        self.assertEqual((5, 0.5, 9), (policy.max_restarts,
                                       policy.backoff_initial,
                                       policy.start_timeout))

    def test_watch_only_needs_no_restart_command(self):
        self.set('monitor_nova_compute', check='command', max_restarts=0)
        (monitor,) = self.monitors()
        self.assertIsNone(monitor.restart)
        self.assertIsInstance(monitor.check, process_checks.CommandLineCheck)

    def test_config_errors_name_the_option(self):
        cases = [
            (dict(check='pidfile', restart_command='x'),
             ('[monitor_nova_compute] pid_file is required',)),
            (dict(check='command', command_pattern='',
                  restart_command='x'),
             ('[monitor_nova_compute] command_pattern is required',)),
            (dict(check='command', command_pattern='(nova',
                  restart_command='x'),
             ('[monitor_nova_compute]', 'invalid command_pattern')),
            (dict(check='command'),
             ('restart_command is required', 'max_restarts = 0')),
            (dict(restart_command="start 'unclosed"),
             ('[monitor_nova_compute] restart_command',)),
            (dict(restart_command='  '),
             ('restart_command is empty',)),
            (dict(systemd_unit=''),
             ('systemd_unit is required',)),
        ]
        for options, fragments in cases:
            with self.subTest(options=options):
                self.fixture.cleanUp()
                self.fixture.setUp()
                self.set('monitor_nova_compute', **options)
                self.assertConfigError(*fragments)


class TestLibvirtMonitorStart(ServiceConfTestCase):

    def test_missing_module_is_logged_and_the_rest_runs(self):
        with mock.patch.dict(sys.modules, {
                'nova_ha.compute_hooks.libvirt_monitor': None}), \
                self.assertLogs('nova_ha.compute_hooks.service',
                                'ERROR') as log:
            self.assertIsNone(service.start_libvirt_monitor(self.conf, None))
        self.assertIn('libvirt event monitor unavailable', log.output[0])

    def test_monitor_that_fails_to_start_is_logged(self):
        """The libvirt monitor is another component: a stand-in module
        whose monitor fails in start() takes its place."""
        class Failing:
            def __init__(self, conf, publisher):
                pass

            def start(self):
                raise RuntimeError('cannot connect to qemu:///system')
        stand_in = types.ModuleType('libvirt_monitor')
        stand_in.LibvirtEventMonitor = Failing
        with mock.patch.dict(sys.modules, {
                'nova_ha.compute_hooks.libvirt_monitor': stand_in}), \
                self.assertLogs('nova_ha.compute_hooks.service',
                                'ERROR') as log:
            self.assertIsNone(service.start_libvirt_monitor(self.conf, None))
        self.assertIn('failed to start', log.output[0])


class TestMonitorService(ServiceConfTestCase):

    def test_parts_follow_the_switches(self):
        self.set('monitor', host='compute-7', host_heartbeat=False,
                 libvirt_events=False)
        self.set('monitor_nova_compute', enabled=False)
        monitor = service.MonitorService(self.conf, publisher=object())
        self.assertEqual('compute-7', monitor.host)
        self.assertIsNone(monitor.heartbeat)
        self.assertEqual([], monitor.processes)
        monitor.start()
        monitor.stop()

    def test_heartbeat_uses_the_servicegroup_backend_and_host(self):
        self.set('monitor', host='compute-8', libvirt_events=False)
        self.set('ha_servicegroup', backend_url='redis://10.0.0.5:6379',
                 down_time=3.0, heartbeat_interval=0.7)
        monitor = service.MonitorService(self.conf, publisher=object())
        beat = monitor.heartbeat
        self.assertEqual(('compute-8', 'nova-ha.nova-ha-host', 0.7),
                         (beat.host, beat.group, beat.interval))
        self.assertIn('membership_timeout=3.0', beat._beater._url)
