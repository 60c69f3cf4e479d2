"""The nova.conf fragments are the one source of what nova-ha asks of Nova:
the README quotes them and the DevStack plugin applies them (the lab cloud
writes them too: tests/unit/lab/test_configs.py)."""

import os
import re
import subprocess
import sys
import unittest

from nova_ha.conf import fragments

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
FRAGMENTS = (fragments.FRAGMENT_SCHEDULER, fragments.FRAGMENT_SERVICES)


def settings(name):
    with open(os.path.join(ROOT, 'etc', 'nova-ha', name)) as f:
        ini = fragments.parse_ini(f.read(), name)
    return [(section, key, value) for section in ini.sections()
            for key, value in ini.items(section)]


class ReadmeTest(unittest.TestCase):

    def test_the_readme_quotes_every_setting_of_each_fragment(self):
        with open(os.path.join(ROOT, 'README.md')) as f:
            blocks = re.findall(r'```ini\n(.*?)```', f.read(), re.S)
        quoted = []
        for block in blocks:
            ini = fragments.parse_ini(re.sub(r'\s+#.*', '', block))
            quoted.extend((section, key, value) for section in ini.sections()
                          for key, value in ini.items(section))
        for name in FRAGMENTS:
            for setting in settings(name):
                if setting[1] == 'backend_url':
                    continue   # an example address in both
                self.assertIn(setting, quoted, '%s: %s.%s = %s is not in '
                              'the README' % ((name,) + setting))


PLUGIN_UNDER_STUBS = r'''
set -e
NOVA_HA_DIR=%(root)s
NOVA_HA_BIN_DIR=%(bin)s
NOVA_CONF=/nova.conf
NOVA_HA_SERVICEGROUP=%(servicegroup)s
NOVA_HA_LIVENESS_URL=redis://10.0.0.5:6379
function iniset_multiline { echo "set $*"; }
function iniset { echo "set $*"; }
function iniget { echo ComputeFilter; }
function is_service_enabled { return 1; }
function get_python_exec_prefix { echo %(bin)s; }
source %(root)s/devstack/plugin.sh
function _nova_ha_nova_confs { echo /nova.conf; }
configure_nova_for_ha
'''


class DevstackPluginTest(unittest.TestCase):

    def configure(self, servicegroup):
        script = PLUGIN_UNDER_STUBS % {
            'root': ROOT, 'bin': os.path.dirname(sys.executable),
            'servicegroup': servicegroup}
        done = subprocess.run(['bash', '-c', script], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(0, done.returncode, done.stderr)
        return [line.split()[1:] for line in done.stdout.splitlines()
                if line.startswith('set ')]

    def test_the_plugin_applies_the_fragments(self):
        calls = self.configure('True')
        for name in FRAGMENTS:
            for section, key, value in settings(name):
                if (section, key) in (('filter_scheduler', 'enabled_filters'),
                                      ('ha_servicegroup', 'backend_url')):
                    continue
                self.assertTrue(
                    [c for c in calls if c[1:3] == [section, key] and
                     value in c[3:]],
                    '%s.%s = %s not applied: %s' % (section, key, value,
                                                    calls))
        self.assertIn(['/nova.conf', 'filter_scheduler', 'enabled_filters',
                       'ComputeFilter,HAReservedHostFilter,HASegmentFilter'],
                      calls)
        self.assertIn(['/nova.conf', 'ha_servicegroup', 'backend_url',
                       'redis://10.0.0.5:6379'], calls)

    def test_without_the_servicegroup_driver_nova_keeps_its_own(self):
        calls = self.configure('False')
        self.assertFalse([c for c in calls if 'servicegroup_driver' in c])
        self.assertTrue([c for c in calls if c[1:3] == [
            'oslo_messaging_notifications', 'driver']])
