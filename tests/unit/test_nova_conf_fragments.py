"""The nova.conf fragments are the one source of what nova-ha asks of Nova:
the README quotes them and the DevStack plugin applies them (the lab cloud
writes them too: tests/unit/lab/test_configs.py)."""

import os
import re
import stat
import subprocess
import sys
import tempfile
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


CONFIGURE_UNDER_STUBS = r'''
set -e
NOVA_HA_DIR=%(root)s
NOVA_HA_BIN_DIR=%(bin)s
NOVA_HA_CONF_DIR=%(tmp)s/etc
NOVA_HA_CONF=%(tmp)s/etc/nova-ha.conf
NOVA_HA_STATE_DIR=%(tmp)s/state
NOVA_CPU_CONF=%(tmp)s/nova-cpu.conf
STACK_USER=$(id -un)
ENABLE_DEBUG_LOG_LEVEL=False
NOVA_HA_CLOUD=devstack-admin
NOVA_HA_COORDINATION_URL=file:///tmp/locks
NOVA_HA_FENCE_DRIVER=noop
NOVA_HA_PEER_KEY=%(peer_key)s
NOVA_HA_HOST_KEYS=%(host_keys)s
function sudo { "$@"; }
function iniset { echo "set $*"; }
function iniset_rpc_backend { :; }
function iniget { [[ "$2 $3" == "DEFAULT host" ]] && echo compute-7; true; }
function recreate_database { :; }
function database_connection_url { echo mysql+pymysql://db/$1; }
function is_service_enabled {
    local s
    for s in "$@"; do [[ " %(services)s " == *" $s "* ]] && return 0; done
    return 1
}
function get_python_exec_prefix { echo %(bin)s; }
source %(root)s/devstack/plugin.sh
set -o xtrace
configure_nova_ha
'''


class DevstackKeysTest(unittest.TestCase):
    """What the plugin provisions for signed monitor events and peer
    probes, run with DevStack's functions replaced by stubs that print
    their calls (there is no DevStack here)."""

    def configure(self, tmp, services='nova-ha-engine nova-ha-monitor n-cpu',
                  peer_key='', host_keys=''):
        script = CONFIGURE_UNDER_STUBS % {
            'root': ROOT, 'bin': os.path.dirname(sys.executable),
            'tmp': tmp, 'services': services, 'peer_key': peer_key,
            'host_keys': host_keys}
        done = subprocess.run(['bash', '-c', script], capture_output=True,
                              text=True, timeout=60)
        self.assertEqual(0, done.returncode, done.stderr)
        calls = {}
        for line in done.stdout.splitlines():
            if line.startswith('set '):
                _, _, section, option, *value = line.split(' ')
                calls[(section, option)] = ' '.join(value)
        return calls, done.stderr

    def test_a_node_signs_its_events_and_its_engine_knows_the_key(self):
        with tempfile.TemporaryDirectory() as tmp:
            calls, log = self.configure(tmp)
            event_key = calls[('monitor', 'event_key')]
            peer_key = calls[('monitor_peers', 'key')]
            self.assertRegex(event_key, '^[0-9a-f]{64}$')
            self.assertRegex(peer_key, '^[0-9a-f]{64}$')
            self.assertNotEqual(event_key, peer_key)
            self.assertEqual('compute-7', calls[('monitor', 'host')])
            self.assertEqual('compute-7:' + event_key,
                             calls[('event_signing', 'host_keys')])
            # DevStack logs every command it runs: never the keys.
            self.assertIn('configure_nova_ha', log)
            self.assertNotIn(event_key, log)
            self.assertNotIn(peer_key, log)
            for name in ('event-key', 'peer-key'):
                self.assertEqual(0o600, stat.S_IMODE(os.stat(
                    os.path.join(tmp, 'state', name)).st_mode))
            self.assertEqual(0o600, stat.S_IMODE(os.stat(
                os.path.join(tmp, 'etc', 'nova-ha.conf')).st_mode))
            again, _ = self.configure(tmp)
            self.assertEqual(event_key, again[('monitor', 'event_key')])
            self.assertEqual(peer_key, again[('monitor_peers', 'key')])

    def test_other_nodes_keys_and_the_segment_key_come_from_localrc(self):
        with tempfile.TemporaryDirectory() as tmp:
            calls, log = self.configure(
                tmp, peer_key='f' * 64, host_keys='compute-8:' + 'e' * 64)
            event_key = calls[('monitor', 'event_key')]
            self.assertEqual('f' * 64, calls[('monitor_peers', 'key')])
            self.assertEqual(
                'compute-7:%s,compute-8:%s' % (event_key, 'e' * 64),
                calls[('event_signing', 'host_keys')])
            self.assertNotIn('f' * 64, log)

    def test_a_compute_only_node_has_no_engine_keys(self):
        with tempfile.TemporaryDirectory() as tmp:
            calls, _ = self.configure(tmp, services='nova-ha-monitor n-cpu')
            self.assertIn(('monitor', 'event_key'), calls)
            self.assertNotIn(('event_signing', 'host_keys'), calls)
