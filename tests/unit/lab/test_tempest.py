"""Tempest against the lab: its tempest.conf, its selection, its results."""

import dataclasses
import importlib.util
import os
import re
import tempfile
import unittest

from nova_ha_lab import configs
from nova_ha_lab import layout as lab
from nova_ha_lab import tempest

FACTS = tempest.CloudFacts(
    image='img-1', image_alt='img-1', flavor='flv-tiny',
    flavor_alt='flv-small', network_extensions=['binding', 'security-group'],
    min_microversion='2.1', max_microversion='2.104')

PREFIX = 'tempest.api.compute.'

# Ids as Tempest lists them: module.Class.method[attributes].
SELECTED = (
    PREFIX + 'servers.test_servers.ServersTestJSON.'
    'test_create_specify_keypair[id-f9e15296-d7f9-4e62-b53f-a04e89160833]',
    PREFIX + 'servers.test_server_actions.ServerActionsTestJSON.'
    'test_resize_server_confirm[id-1499262a-9328-4eda-9068-db1ac57498d2]',
    PREFIX + 'admin.test_servers.ServersAdminTestJSON.'
    'test_reset_state_server[id-ee8ae470-db70-474d-b752-690b7892cab1]',
    PREFIX + 'admin.test_servers_negative.ServersAdminNegativeTestJSON.'
    'test_migrate_non_existent_server[id-46a4e1ca-87ae-4d28-987a-1b6b136a0221'
    ',negative]',
    PREFIX + 'admin.test_aggregates_negative.AggregatesAdminNegativeTestJSON.'
    'test_aggregate_create_as_user[id-86a1cb14-da37-4a70-b056-903fd56dfe29'
    ',negative]',
    'tempest.serial_tests.api.compute.admin.test_aggregates.'
    'AggregatesAdminTestJSON.test_aggregate_create_delete'
    '[id-0d148aa3-d54c-4317-aa8d-42040a475e20]',
    PREFIX + 'admin.test_hypervisor.HypervisorAdminTestJSON.'
    'test_get_hypervisor_list[id-7f0ceacd-c64d-4e96-b8ee-d02943142cc5]',
    PREFIX + 'admin.test_hypervisor_negative.HypervisorAdminNegativeTestJSON.'
    'test_get_nonexistent_hypervisor_uptime'
    '[id-f60aa680-9a3a-4c7d-90e1-fae3a4891303,negative]',
    PREFIX + 'admin.test_services.ServicesAdminTestJSON.'
    'test_list_services[id-5be41ef4-53d1-41cc-8839-5c2a48a1b283]',
    PREFIX + 'admin.test_migrations.MigrationsAdminTest.'
    'test_cold_migration[id-4bf0be52-3b6f-4746-9a27-3143636fe30d]',
    PREFIX + 'admin.test_live_migration.LiveAutoBlockMigrationV225Test.'
    'test_live_block_migration[id-1dce86b8-eb04-4c03-a9d8-9c1dc3ee0c7b]',
    PREFIX + 'admin.test_live_migration_negative.LiveMigrationNegativeTest.'
    'test_invalid_host_for_migration'
    '[id-7fb7856e-ae92-44c9-861a-af62d7830bcb,negative]',
    PREFIX + 'servers.test_server_addresses.ServerAddressesTestJSON.'
    'test_list_server_addresses_by_network'
    '[id-87bbc374-5538-4f64-b673-2b0e4443cc30,smoke]',
)
NOT_SELECTED = (
    PREFIX + 'admin.test_flavors.FlavorsAdminTestJSON.'
    'test_create_flavor_verify_entry_in_list_details[id-8261d7b0]',
    PREFIX + 'admin.test_hosts.HostsAdminTestJSON.'
    'test_list_hosts[id-9bfaf98d]',
    PREFIX + 'images.test_images.ImagesTestJSON.test_create_image[id-1]',
    PREFIX + 'admin.test_volume_swap.TestVolumeSwap.test_volume_swap[id-1]',
    'tempest.serial_tests.api.compute.admin.test_server_affinity.'
    'ServersAffinityTest.test_create_server_with_affinity[id-28ef4c29]',
    'tempest.scenario.test_server_basic_ops.TestServerBasicOps.'
    'test_server_basic_ops[id-7fff3fb3,compute,network,smoke]',
)
EXCLUDED = (
    PREFIX + 'servers.test_create_server_multi_nic.ServersTestMultiNic.'
    'test_verify_multiple_nics_order[id-0578d144-ed74-43f8-8e57-ab10dbf9b3c2]',
    PREFIX + 'servers.test_server_addresses.ServerAddressesTestJSON.'
    'test_list_server_addresses'
    '[id-6eb718c0-02d9-4d5e-acd1-4e0c269cef39,smoke]',
    PREFIX + 'admin.test_hypervisor.HypervisorAdminTestJSON.'
    'test_get_hypervisor_uptime[id-91a50d7d-1c2b-4f24-b55a-a1fe20efca70]',
    PREFIX + 'servers.test_server_actions.ServerActionsTestOtherB.'
    'test_get_console_output_with_unlimited_size'
    '[id-89104062-69d8-4b19-a71b-f47b7af093d7]',
)


def runs(test_id):
    """Would ``tempest run --regex REGEX --exclude-regex ...`` run it?"""
    return bool(re.search(tempest.REGEX, test_id)) and not re.search(
        tempest.EXCLUDE_REGEX, test_id)


class SelectionTest(unittest.TestCase):

    def test_the_asked_modules_are_selected(self):
        for test_id in SELECTED:
            self.assertTrue(runs(test_id), test_id)

    def test_other_modules_are_not(self):
        for test_id in NOT_SELECTED:
            self.assertFalse(runs(test_id), test_id)

    def test_what_cannot_pass_on_the_lab_is_excluded(self):
        for test_id in EXCLUDED:
            self.assertTrue(re.search(tempest.REGEX, test_id), test_id)
            self.assertFalse(runs(test_id), test_id)

    def test_an_excluded_name_is_not_a_prefix_of_others(self):
        # test_list_server_addresses vs test_list_server_addresses_by_network
        kept = (PREFIX + 'servers.test_server_addresses.'
                'ServerAddressesTestJSON.test_list_server_addresses_by_network'
                '[id-87bbc374-5538-4f64-b673-2b0e4443cc30,smoke]')
        self.assertTrue(runs(kept))

    def test_count_by_module(self):
        self.assertEqual(
            {PREFIX + 'admin.test_hypervisor': 2,
             PREFIX + 'servers.test_servers': 1},
            tempest.count_by_module([
                PREFIX + 'admin.test_hypervisor.A.test_x[id-1]',
                PREFIX + 'admin.test_hypervisor.B.test_y[id-2,negative]',
                PREFIX + 'servers.test_servers.C.test_z']))


class ConfTest(unittest.TestCase):

    def setUp(self):
        self.layout = lab.Layout(base='/var/tmp/some-lab')
        self.ini = tempest.tempest_conf(self.layout, FACTS, '/w')

    def value(self, section, key):
        values = self.ini.get(section, key)
        self.assertEqual(1, len(values), (section, key, values))
        return values[0]

    def test_admin_of_the_lab_and_dynamic_credentials(self):
        self.assertEqual(lab.ADMIN_USER, self.value('auth', 'admin_username'))
        self.assertEqual(lab.ADMIN_PASSWORD,
                         self.value('auth', 'admin_password'))
        self.assertEqual(lab.ADMIN_PROJECT,
                         self.value('auth', 'admin_project_name'))
        self.assertEqual('true', self.value('auth', 'use_dynamic_credentials'))
        self.assertEqual('false',
                         self.value('auth', 'create_isolated_networks'))

    def test_identity_is_the_labs_keystone(self):
        self.assertEqual('http://172.31.250.1:5000/v3',
                         self.value('identity', 'uri_v3'))
        self.assertEqual('v3', self.value('identity', 'auth_version'))
        self.assertEqual(lab.REGION, self.value('identity', 'region'))

    def test_compute_refs_are_the_facts(self):
        self.assertEqual('img-1', self.value('compute', 'image_ref'))
        self.assertEqual('img-1', self.value('compute', 'image_ref_alt'))
        self.assertEqual('flv-tiny', self.value('compute', 'flavor_ref'))
        self.assertEqual('flv-small', self.value('compute', 'flavor_ref_alt'))
        self.assertEqual('2.1', self.value('compute', 'min_microversion'))
        self.assertEqual('2.104', self.value('compute', 'max_microversion'))
        self.assertEqual([], self.ini.get('compute', 'fixed_network_name'))

    def test_only_ordinary_hosts_count_and_spares_are_avoided(self):
        # 7 hosts, a-spare and b-spare reserved.
        self.assertEqual('5', self.value('compute', 'min_compute_nodes'))
        self.assertEqual('-spare',
                         self.value('compute', 'target_hosts_to_avoid'))

    def test_no_networking_no_volumes(self):
        self.assertEqual('false', self.value('validation', 'run_validation'))
        for service, on in (('nova', 'true'), ('glance', 'true'),
                            ('neutron', 'true'), ('cinder', 'false'),
                            ('swift', 'false')):
            self.assertEqual(on, self.value('service_available', service))
        self.assertEqual('binding,security-group', self.value(
            'network-feature-enabled', 'api_extensions'))
        self.assertEqual('false', self.value('network-feature-enabled',
                                             'floating_ips'))
        for key in ('interface_attach', 'attach_encrypted_volume',
                    'swap_volume', 'volume_multiattach',
                    'volume_backed_live_migration'):
            self.assertEqual('false',
                             self.value('compute-feature-enabled', key), key)

    def test_what_the_fake_driver_does(self):
        for key in ('resize', 'cold_migration', 'live_migration',
                    'block_migration_for_live_migration', 'pause',
                    'suspend', 'shelve', 'rescue', 'console_output',
                    'change_password'):
            self.assertEqual('true',
                             self.value('compute-feature-enabled', key), key)
        for key in ('snapshot', 'vnc_console', 'spice_console',
                    'serial_console', 'personality', 'stable_rescue'):
            self.assertEqual('false',
                             self.value('compute-feature-enabled', key), key)

    def test_workspace_paths(self):
        self.assertEqual('/w/logs', self.value('DEFAULT', 'log_dir'))
        self.assertEqual('/w/tempest_lock',
                         self.value('oslo_concurrency', 'lock_path'))

    def test_the_text_reads_back(self):
        parsed = configs.parse_ini(self.ini.render())
        self.assertEqual(self.ini.sections(), parsed.sections())
        self.assertEqual('-spare',
                         parsed.first('compute', 'target_hosts_to_avoid'))

    def test_nova_max_microversion_is_novas(self):
        from nova.api.openstack import api_version_request
        self.assertEqual(api_version_request._MAX_API_VERSION,
                         tempest.NOVA_MAX_MICROVERSION)


class HostsToAvoidTest(unittest.TestCase):

    def layout(self, *hosts):
        return dataclasses.replace(lab.Layout(base='/x'), hosts=hosts)

    def test_none_without_reserved_hosts(self):
        self.assertIsNone(tempest.hosts_to_avoid(
            self.layout(lab.Host('a1', 1), lab.Host('a2', 2))))

    def test_none_when_the_suffix_names_an_ordinary_host(self):
        self.assertIsNone(tempest.hosts_to_avoid(self.layout(
            lab.Host('a1', 1, reserved=True), lab.Host('b1', 2),
            lab.Host('c2', 3, reserved=True))))

    def test_a_single_reserved_host_is_its_name(self):
        self.assertEqual('spare', tempest.hosts_to_avoid(self.layout(
            lab.Host('a1', 1), lab.Host('spare', 2, reserved=True))))

    def test_without_avoidance_the_option_is_not_written(self):
        layout = self.layout(lab.Host('a1', 1), lab.Host('a2', 2))
        ini = tempest.tempest_conf(layout, FACTS, '/w')
        self.assertEqual([], ini.get('compute', 'target_hosts_to_avoid'))
        self.assertEqual(['2'], ini.get('compute', 'min_compute_nodes'))


@unittest.skipIf(importlib.util.find_spec('tempest') is None,
                 'tempest is not installed (lab/requirements.txt; the fast '
                 'tier\'s light install has no lab packages)')
class WorkspaceTest(unittest.TestCase):

    def test_write_config_with_facts_touches_no_cloud(self):
        with tempfile.TemporaryDirectory() as tmp:
            layout = lab.Layout(base=tmp)
            workspace = tempest.write_config(layout, facts=FACTS,
                                             init_repo=False)
            self.assertEqual(os.path.join(tmp, 'tempest'), workspace)
            for sub in ('logs', 'tempest_lock'):
                self.assertTrue(os.path.isdir(os.path.join(workspace, sub)))
            with open(tempest.conf_path(workspace)) as conf:
                parsed = configs.parse_ini(conf.read())
            self.assertEqual('img-1', parsed.first('compute', 'image_ref'))
            self.assertEqual(os.path.join(workspace, 'logs'),
                             parsed.first('DEFAULT', 'log_dir'))
            with open(os.path.join(workspace, '.stestr.conf')) as conf:
                stestr = conf.read()
            self.assertIn('test_discover', stestr)
            self.assertIn('group_regex=', stestr)

    def test_argv(self):
        argv = tempest.argv('/w', concurrency=3)
        self.assertEqual('run', argv[1])
        self.assertEqual(['--config-file', '/w/etc/tempest.conf'],
                         argv[2:4])
        self.assertEqual(tempest.REGEX, argv[argv.index('--regex') + 1])
        self.assertEqual(tempest.EXCLUDE_REGEX,
                         argv[argv.index('--exclude-regex') + 1])
        self.assertEqual('3', argv[argv.index('--concurrency') + 1])
        listing = tempest.argv('/w', list_tests=True)
        self.assertIn('--list-tests', listing)
        self.assertNotIn('--concurrency', listing)


FINISHED = """\
{1} setUpClass (tempest.api.compute.servers.test_novnc.NoVNCConsoleTestJSON) \
... SKIPPED: VNC Console feature is disabled.
{0} tempest.api.compute.servers.test_servers.ServersTestJSON.test_update_\
server_name [2.104227s] ... ok
{1} tempest.api.compute.admin.test_migrations.MigrationsAdminTest.test_cold_\
migration [61.003000s] ... FAILED

Captured traceback:
~~~~~~~~~~~~~~~~~~~
    Traceback (most recent call last):
    tempest.lib.exceptions.TimeoutException: Request timed out
{0} setUpClass (tempest.api.compute.admin.test_live_migration.\
LiveMigrationTest) [0.000000s] ... FAILED
{0} tempest.api.compute.servers.test_servers.ServersTestJSON.test_create_\
specify_keypair [1.5s] ... ok

==============================
Failed 2 tests - output below:
==============================

tempest.api.compute.admin.test_migrations.MigrationsAdminTest.test_cold_\
migration
---------------------------------------------------------------------------

======
Totals
======
Ran: 5 tests in 70.1234 sec.
 - Passed: 2
 - Skipped: 1
 - Expected Fail: 0
 - Unexpected Success: 0
 - Failed: 2
Sum of execute time for each test: 64.6 sec.

==============
Worker Balance
==============
 - Worker 0 (3 tests) => 0:00:05
 - Worker 1 (2 tests) => 0:01:01
"""


class ParseOutputTest(unittest.TestCase):

    def test_totals_and_failing_tests(self):
        summary = tempest.parse_output(FINISHED)
        self.assertEqual(
            (5, 2, 2, 1, True),
            (summary['ran'], summary['passed'], summary['failed'],
             summary['skipped'], summary['complete']))
        self.assertEqual(
            ['tempest.api.compute.admin.test_migrations.MigrationsAdminTest.'
             'test_cold_migration',
             'setUpClass (tempest.api.compute.admin.test_live_migration.'
             'LiveMigrationTest)'],
            summary['failing'])
        self.assertFalse(tempest.ok(summary))

    def test_an_unfinished_run_counts_its_lines(self):
        cut = FINISHED.split('\n==============================')[0]
        summary = tempest.parse_output(cut)
        self.assertFalse(summary['complete'])
        self.assertEqual((2, 2, 1), (summary['passed'], summary['failed'],
                                     summary['skipped']))
        self.assertEqual(2, len(summary['failing']))
        self.assertFalse(tempest.ok(summary))

    def test_a_clean_run_is_ok(self):
        text = ('{0} tempest.api.compute.servers.test_servers.ServersTestJSON.'
                'test_update_server_name [2.1s] ... ok\n'
                '======\nTotals\n======\nRan: 1 tests in 2.2 sec.\n'
                ' - Passed: 1\n - Skipped: 0\n - Expected Fail: 0\n'
                ' - Unexpected Success: 0\n - Failed: 0\n')
        summary = tempest.parse_output(text)
        self.assertTrue(tempest.ok(summary))
        self.assertEqual([], summary['failing'])

    def test_a_timed_out_run_is_not_ok(self):
        summary = dict(tempest.parse_output(''), timed_out=True)
        self.assertFalse(tempest.ok(summary))

    def test_summary_line(self):
        line = tempest.summary_line(tempest.parse_output(FINISHED))
        self.assertTrue(line.startswith(
            'tempest: passed 2, failed 2, skipped 1 (regex ^tempest\\.'))
        self.assertNotIn('\n', line)


if __name__ == '__main__':
    unittest.main()
