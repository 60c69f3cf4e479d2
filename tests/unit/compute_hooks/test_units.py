"""The systemd units in etc/systemd start what setup.cfg installs.

A renamed console script, module or config path breaks a test here rather
than a deployment.
"""

import configparser
import importlib
import os
import shlex
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
UNITS = os.path.join(ROOT, 'etc', 'systemd')
CONFIG_FILE = '/etc/nova-ha/nova-ha.conf'


def read_unit(name):
    # Unit files repeat keys (Wants=, After=): keep every value.
    parser = configparser.RawConfigParser(strict=False,
                                          dict_type=_MultiDict)
    parser.optionxform = str
    with open(os.path.join(UNITS, name)) as f:
        parser.read_file(f)
    return parser


class _MultiDict(dict):
    """Repeated keys are joined with a newline instead of overwritten."""

    def __setitem__(self, key, value):
        if key in self and isinstance(value, list):
            value = self[key] + value
        super().__setitem__(key, value)


def setup_cfg():
    parser = configparser.RawConfigParser()
    parser.read(os.path.join(ROOT, 'setup.cfg'))
    return parser


def console_scripts():
    lines = setup_cfg()['entry_points']['console_scripts'].strip()
    return dict((part.strip() for part in line.split('=', 1))
                for line in lines.splitlines())


class UnitChecks:
    unit = None
    script = None

    def setUp(self):
        self.parser = read_unit(self.unit)

    def words(self, key, section='Unit'):
        return self.parser[section].get(key, '').split()

    def test_execstart_runs_the_installed_console_script(self):
        argv = shlex.split(self.parser['Service']['ExecStart'])
        self.assertEqual(self.script, os.path.basename(argv[0]))
        target = console_scripts()[self.script]
        module, function = target.split(':')
        self.assertTrue(callable(getattr(importlib.import_module(module),
                                         function)))
        self.assertEqual(['--config-file', CONFIG_FILE], argv[1:])

    RESTART = 'on-failure'

    def test_restarts_after_the_network(self):
        self.assertEqual(self.RESTART, self.parser['Service']['Restart'])
        self.assertIn('network-online.target', self.words('After'))
        self.assertIn('network-online.target', self.words('Wants'))
        self.assertEqual('multi-user.target',
                         self.parser['Install']['WantedBy'])

    def test_installed_with_the_package(self):
        data_files = setup_cfg()['files']['data_files']
        self.assertIn('= etc/systemd/*', data_files)


class TestMonitorUnit(UnitChecks, unittest.TestCase):
    unit = 'nova-ha-monitor.service'
    script = 'nova-ha-monitor'

    def test_runs_as_root_after_libvirtd(self):
        # It restarts nova-compute through systemctl and reads /proc.
        self.assertEqual('root', self.parser['Service']['User'])
        self.assertIn('libvirtd.service', self.words('After'))
        self.assertIn('libvirtd.service', self.words('Wants'))

    def test_config_errors_are_not_restarted(self):
        from nova_ha.cmd import monitor
        self.assertEqual(str(monitor.CONFIG_ERROR),
                         self.parser['Service']['RestartPreventExitStatus'])


class TestEngineUnit(UnitChecks, unittest.TestCase):
    unit = 'nova-ha-engine.service'
    script = 'nova-ha-engine'
    # A clean exit (SIGHUP included) is restarted too: the engine's
    # leases lapse or are released, and its incidents are taken over.
    RESTART = 'always'

    def test_runs_unprivileged_with_its_state_directory(self):
        service = self.parser['Service']
        self.assertEqual('nova-ha', service['User'])
        # /var/lib/nova-ha: the default history and lock locations.
        self.assertEqual('nova-ha', service['StateDirectory'])
        from nova_ha.conf import history
        self.assertIn('/var/lib/nova-ha/', history.DEFAULT_CONNECTION)

    def test_reload_is_a_restart_by_sighup(self):
        # nova-ha-engine hands its incidents over on SIGHUP and exits;
        # Restart=always starts it again on the new configuration.
        self.assertEqual('/bin/kill -HUP $MAINPID',
                         self.parser['Service']['ExecReload'])
        from nova_ha.cmd import engine
        import inspect
        self.assertIn('signal.SIGHUP', inspect.getsource(engine.main))

    def test_stop_outlasts_the_hand_over(self):
        service = self.parser['Service']
        from nova_ha.conf import engine
        timeout = {o.name: o.default for o in engine.OPTS}[
            'nova_api_timeout']
        self.assertGreater(int(service['TimeoutStopSec']), 2 * timeout)
