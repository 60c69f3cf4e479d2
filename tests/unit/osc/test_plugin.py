"""The OpenStack client plugin: its module contract, and that ``openstack
ha`` offers exactly the commands of ``nova-ha`` (read from the installed
entry points, as both clients read them)."""

import argparse
import importlib.metadata
import json
import os
import subprocess
import sys
import unittest

from openstackclient.common import clientmanager

from nova_ha.cmd import cli
from nova_ha.osc import plugin

OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')


def entry_points(group):
    return {ep.name: ep.value
            for ep in importlib.metadata.entry_points(group=group)}


class TestCommandParity(unittest.TestCase):

    def test_every_nova_ha_command_is_an_openstack_ha_command(self):
        nova_ha = entry_points(cli.NAMESPACE)
        openstack_ha = entry_points('openstack.ha.v1')
        self.assertIn('maintenance_enter', nova_ha)
        self.assertEqual({'ha_' + name: value
                          for name, value in nova_ha.items()}, openstack_ha)

    def test_the_plugin_is_registered_under_ha(self):
        self.assertEqual('nova_ha.osc.plugin',
                         entry_points('openstack.cli.extension')['ha'])


class TestPluginModule(unittest.TestCase):

    def test_module_has_what_the_client_requires(self):
        self.assertIsInstance(plugin, clientmanager.PluginModule)
        self.assertEqual('ha', plugin.API_NAME)
        self.assertEqual('os_ha_api_version', plugin.API_VERSION_OPTION)
        self.assertIn(plugin.DEFAULT_API_VERSION, plugin.API_VERSIONS)

    def test_the_client_finds_the_plugin(self):
        self.assertIn(plugin, clientmanager.PLUGIN_MODULES)

    def test_version_option_and_check(self):
        parser = plugin.build_option_parser(argparse.ArgumentParser())
        self.assertEqual('1', parser.parse_args(
            ['--os-ha-api-version', '1']).os_ha_api_version)
        self.assertTrue(plugin.check_api_version('1'))
        with self.assertRaisesRegex(Exception, 'supported: 1'):
            plugin.check_api_version('2')

    def test_client_is_the_clients_own_sdk_connection(self):
        class Manager:
            sdk_connection = object()
        self.assertIs(Manager.sdk_connection, plugin.make_client(Manager()))


class TestOpenStackCommand(unittest.TestCase):
    """The installed ``openstack`` program, in a subprocess (no cloud
    needed to list commands or show their help)."""

    def openstack(self, *args):
        env = dict(os.environ)
        for name in [n for n in env if n.startswith('OS_')]:
            del env[name]
        done = subprocess.run([OPENSTACK] + list(args), env=env,
                              capture_output=True, text=True, timeout=120)
        self.assertEqual(0, done.returncode, done.stderr)
        return done.stdout

    def test_openstack_lists_the_ha_commands(self):
        groups = json.loads(self.openstack(
            'command', 'list', '--group', 'openstack.ha.v1', '-f', 'json'))
        commands = {c for g in groups for c in g['Commands']}
        expected = {'ha ' + name.replace('_', ' ')
                    for name in entry_points(cli.NAMESPACE)}
        self.assertEqual(expected, commands)

    def test_openstack_ha_help_shows_the_valid_values(self):
        text = self.openstack('ha', 'segment', 'set', '--help')
        self.assertIn('{auto,reserved_host,auto_priority,rh_priority}', text)
        self.assertIn('--evacuate-all', text)
