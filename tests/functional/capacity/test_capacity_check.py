"""``nova-ha capacity check`` against the in-process Nova cloud.

Real Nova API, scheduler (with nova-ha's filters and weigher) and
placement; the command reads them through openstacksdk.  Each test then
lets Nova evacuate for real and checks that it did what the check said.

Every compute is a MediumFakeDriver: 7680 MB of RAM usable in placement
(8192 total, 512 reserved), so one 4 GB VM per host leaves no room for a
second.
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import contextlib
import io
import json

from nova_ha.capacity import cli as capacity_cli
from nova_ha.cmd import cli


class CapacityCheckTest(cloud.HACloudTestCase):

    def setUp(self):
        super().setUp()
        self.big = self._create_flavor(name='big', memory_mb=4096, vcpu=1,
                                       disk=1, ephemeral=0)
        self.small = self._create_flavor(name='small', memory_mb=512,
                                         vcpu=1, disk=1, ephemeral=0)

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            rc = cli.main(list(args), connection=self.sdk_connection())
        return rc, out.getvalue(), err.getvalue()

    def forced_boot(self, name, host, flavor_id):
        """An admin's forced boot (``nova:HOST``) bypasses the filters: the
        way an operator can still put a VM on a reserved host."""
        body = self._build_server(name=name, flavor_id=flavor_id,
                                  networks='none', az='nova:%s' % host)
        server = self.admin_api.post_server({'server': body})
        return self._wait_for_state_change(server, 'ACTIVE')

    def test_a_segment_that_absorbs_its_largest_host(self):
        big = self.boot_server('a1-big', host='a1', flavor_id=self.big)
        self.boot_server('a2-small', host='a2', flavor_id=self.small)

        rc, out, err = self.run_cli('capacity', 'check', '--segment',
                                    'seg-a', '-f', 'json')
        self.assertEqual(0, rc, err)
        (row,) = json.loads(out)
        self.assertEqual(('seg-a', 'rh_priority', ['a-spare'], ['a1'], 1,
                          1, [], 'OK'),
                         (row['Segment'], row['Method'], row['Reserved'],
                          row['Failed'], row['Evacuated'], row['Placed'],
                          row['Unplaced'], row['Verdict']))

        rc, out, err = self.run_cli('capacity', 'check', '--segment',
                                    'seg-a', '--vms', '-f', 'json')
        self.assertEqual(0, rc, err)
        (vm,) = json.loads(out)
        self.assertEqual((big['id'], 'a1', 'a-spare'),
                         (vm['VM'], vm['Failed host'], vm['Target']))

        # What-if on a named host; an unknown segment is a clear error.
        rc, out, err = self.run_cli('capacity', 'check', '--fail-host',
                                    'a2', '-f', 'json')
        self.assertEqual(0, rc, err)
        (row,) = json.loads(out)
        self.assertEqual(('seg-a', ['a2'], 1), (row['Segment'],
                                                row['Failed'],
                                                row['Placed']))
        rc, out, err = self.run_cli('capacity', 'check', '--segment', 'x')
        self.assertEqual(1, rc)
        self.assertIn('no such segment: x (segments: seg-a, seg-b)', err)

        # Nova, asked to evacuate, picks the same host.
        self.fail_host('a1')
        moved = self.evacuate(big)
        self.assertEqual('a-spare', moved['OS-EXT-SRV-ATTR:host'])

    def test_a_segment_that_cannot_absorb_a_failure(self):
        b1 = self.boot_server('b1-big', host='b1', flavor_id=self.big)
        self.boot_server('b2-big', host='b2', flavor_id=self.big)
        self.forced_boot('squatter', 'b-spare', self.big)

        rc, out, err = self.run_cli(
            'capacity', 'check', '--mtbf', '1y', '--mttr', '1d',
            '--target', '99.99', '-f', 'json')
        self.assertEqual(capacity_cli.WARNING_EXIT, rc, err)
        rows = {r['Segment']: r for r in json.loads(out)}
        seg_b = rows['seg-b']
        self.assertEqual('WARNING', seg_b['Verdict'])
        self.assertEqual(['b1'], seg_b['Failed'])
        self.assertEqual(['b1-big'], seg_b['Unplaced'])
        self.assertIn('1 of 1 VMs to evacuate find no host',
                      seg_b['Notes'])
        # seg-a has nothing to move and the reserved host the model wants.
        self.assertEqual(('OK', 1, 1), (rows['seg-a']['Verdict'],
                                        rows['seg-a']['Reserved needed'],
                                        len(rows['seg-a']['Reserved'])))
        # ...but not the two it needs for 99.999 % (docs/operator/capacity.md).
        rc, out, err = self.run_cli(
            'capacity', 'check', '--segment', 'seg-a', '--mtbf', '1y',
            '--mttr', '1d', '--target', '99.999', '-f', 'json')
        self.assertEqual(capacity_cli.WARNING_EXIT, rc, err)
        (row,) = json.loads(out)
        self.assertEqual(('WARNING', 2), (row['Verdict'],
                                          row['Reserved needed']))
        self.assertIn('1 reserved hosts, the model needs 2 for 99.9990 %',
                      row['Notes'])

        rc, out, err = self.run_cli('capacity', 'check', '--segment',
                                    'seg-b', '--vms', '-f', 'json')
        self.assertEqual(capacity_cli.WARNING_EXIT, rc, err)
        (vm,) = json.loads(out)
        self.assertEqual('', vm['Target'])
        self.assertIn('b-spare: MEMORY_MB 4096: 3584 free of 7680',
                      vm['Why'])
        self.assertIn('b2: MEMORY_MB 4096: 3584 free of 7680', vm['Why'])

        # The table says the same to a person, with the WARNING row.
        rc, out, err = self.run_cli('capacity', 'check', '--segment',
                                    'seg-b')
        self.assertEqual(capacity_cli.WARNING_EXIT, rc, err)
        self.assertIn('| WARNING |', out)

        # The planner reads N and the reserved hosts from the segment.
        rc, out, err = self.run_cli(
            'capacity', 'plan', '--segment', 'seg-b', '--mtbf', '1y',
            '--mttr', '1d', '--target', '99.99', '-f', 'json')
        self.assertEqual(0, rc, err)
        self.assertIn('N=2,', err)
        self.assertIn('segment seg-b has 1 reserved host(s): enough', err)

        # Nova, asked to evacuate, finds no host either.
        self.fail_host('b1')
        self.admin_api.post_server_action(b1['id'], {'evacuate': {}})
        migration = self._wait_for_migration_status(b1, ['done', 'error'])
        self.assertEqual('error', migration['status'])
        self.assertEqual('b1', self.host_of(b1))
