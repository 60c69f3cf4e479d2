"""Maintenance mode end to end on the in-process Nova cloud.

``nova-ha maintenance enter|exit`` run through cli.main against real
nova-api, conductor, scheduler (with nova-ha's filters) and fake-driver
computes; the engine is the real one (EngineHarness), sharing the CLI's
tooz locks (file driver) and SQLite history.  Only the BMCs are simulated
(see nova_ha_testbed.engine).
"""

from nova_ha_testbed import cloud  # noqa: F401,I100  (Nova's test mode)

import io
import json

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import events
from nova_ha.notifier import nova as ha_nova

from nova_ha_testbed import engine as engine_harness
from tests.functional.tagging import harness

MAINTENANCE_AGGREGATE = 'ha-maintenance'


class MaintenanceTestBase(harness.OperatorCLITestCase):

    def setUp(self):
        super().setUp()
        self.ha = engine_harness.EngineHarness(
            self, engine_harness.fast_settings())
        self.addCleanup(self.ha.stop)
        # The CLI uses the engine's history and lock service, as an
        # operator's nova-ha.conf does.
        self.write_config(self.ha.tmp)

    def assert_marked(self, host):
        service = self.service(host)
        self.assertEqual('disabled', service['status'])
        self.assertTrue(service['disabled_reason'].startswith(
            'nova-ha:maintenance'), service['disabled_reason'])
        aggregate = self.aggregate_named(MAINTENANCE_AGGREGATE)
        self.assertIn(host, aggregate['hosts'])
        self.assertEqual('true', aggregate['metadata'][
            ha_aggregates.MAINTENANCE_KEY])

    def assert_not_marked(self, host):
        self.assertEqual('enabled', self.service(host)['status'])
        aggregate = self.aggregate_named(MAINTENANCE_AGGREGATE)
        self.assertNotIn(host, aggregate['hosts'] if aggregate else [])

    def view_of(self, host):
        """The host as the filters and the engine judge it now."""
        nova = ha_nova.NovaGateway(self.sdk_connection())
        return ha_aggregates.host_view_of(nova.aggregates(), host)


class TestDrainAndExit(MaintenanceTestBase):

    def test_enter_drains_ha_first_inside_the_segment_and_exit_restores(self):
        plain = self.boot_server('plain', ha=False, host='a1',
                                 flavor_id=self.small)
        high = self.boot_server('high', priority=10, host='a1',
                                flavor_id=self.small)
        stopped = self.boot_server('stopped', priority=5, host='a1',
                                   flavor_id=self.small)
        self._stop_server(stopped)

        rc, out, err = self.run_cli('maintenance', 'enter', 'a1',
                                    '--max-concurrent', '1',
                                    '--reason', 'BIOS update', '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        # HA first by priority (the stopped VM included), then the rest.
        self.assertEqual(['high', 'stopped', 'plain'],
                         [r['Name'] for r in rows])
        self.assertEqual(['live_migrate', 'cold_migrate', 'live_migrate'],
                         [r['Action'] for r in rows])
        self.assertEqual([True, True, False], [r['HA'] for r in rows])
        # The only other ordinary host of seg-a: not its reserved host
        # (HAReservedHostFilter), not another segment (HASegmentFilter).
        self.assertEqual([('moved', 'a2')] * 3,
                         [(r['Result'], r['Target']) for r in rows])
        for server, status in ((high, 'ACTIVE'), (plain, 'ACTIVE'),
                               (stopped, 'SHUTOFF')):
            got = self.admin_api.get_server(server['id'])
            self.assertEqual('a2', got['OS-EXT-SRV-ATTR:host'])
            self.assertEqual(status, got['status'], server['name'])
        # Nova's own record of the order the moves were started in.
        started = [m['instance_uuid'] for m in sorted(
            self.admin_api.get_migrations(), key=lambda m: m['id'])]
        self.assertEqual([high['id'], stopped['id'], plain['id']], started)
        self.assertIn('a1 is in maintenance (added to aggregate '
                      'ha-maintenance, compute service disabled)', err)
        self.assertIn('drain a1 3/3 plain: moved to a2', err)

        self.assert_marked('a1')
        self.assertIn('BIOS update', self.service('a1')['disabled_reason'])
        self.assertTrue(self.view_of('a1').maintenance)
        drained = [r.instance for r in self.ha.history.query(
            kind='maintenance.drain')]
        self.assertEqual([high['id'], stopped['id'], plain['id']], drained)

        rc, out, err = self.run_cli('maintenance', 'list', '-f', 'value',
                                    '-c', 'Host', '-c', 'VMs')
        self.assertEqual((0, 'a1 0\n'), (rc, out), err)

        exit_row = self.run_json('maintenance', 'exit', 'a1')
        self.assertEqual('removed from aggregate ha-maintenance; compute '
                         'service enabled', exit_row['Changes'])
        self.assertFalse(exit_row['Maintenance'])
        self.assertIn('not moved back', exit_row['Notes'])
        self.assert_not_marked('a1')
        self.assertFalse(self.view_of('a1').maintenance)
        self.assertEqual('a2', self.host_of(high))     # not moved back
        self.assertEqual(['entered', 'exited'], [
            r.outcome for r in self.ha.history.query(kind='maintenance')
            if r.kind == 'maintenance'])

    def test_reserved_host_in_maintenance_is_no_failover_capacity(self):
        self.assertTrue(self.view_of('a-spare').reserved)
        # Someone disabled the host for their own reason beforehand.
        self.admin_api.put_service(self.service('a-spare')['id'], {
            'status': 'disabled', 'disabled_reason': 'RAM test'})
        rc, out, err = self.run_cli('maintenance', 'enter', 'a-spare')
        self.assertEqual(0, rc, err)
        self.assertIn('already disabled (RAM test): left as it is', err)
        view = self.view_of('a-spare')
        self.assertTrue(view.maintenance)
        self.assertFalse(view.reserved)
        segment = self.run_json('segment', 'show', 'seg-a')
        self.assertEqual(['a-spare'], segment['Maintenance hosts'])
        self.assertEqual([], segment['Reserved hosts'])

        exit_row = self.run_json('maintenance', 'exit', 'a-spare')
        self.assertTrue(self.view_of('a-spare').reserved)
        # Not disabled by maintenance: exit leaves the service alone.
        self.assertEqual(('disabled', 'RAM test'), (
            self.service('a-spare')['status'],
            self.service('a-spare')['disabled_reason']))
        self.assertIn('stays disabled (RAM test)', exit_row['Notes'])


class TestMutualExclusionWithRecovery(MaintenanceTestBase):

    def test_enter_refused_during_recovery_and_engine_silenced_after(self):
        pet = self.boot_server('pet', priority=3, host='a1',
                               flavor_id=self.small)
        # An incident of the host is open: the engine is recovering it.
        self.ha.history.open_incident('host_failure:a1:t0',
                                      'host_failure', host='a1')
        rc, out, err = self.run_cli('maintenance', 'enter', 'a1')
        self.assertEqual(1, rc)
        self.assertIn('a1 has open incidents in the history: '
                      'host_failure:a1:t0 (host_failure, state open)',
                      err)
        self.assert_not_marked('a1')
        # Closed; a host recovered before can still enter maintenance,
        # and its next failure report is then silenced as maintenance.
        self.ha.history.update_incident('host_failure:a1:t0',
                                        state='done')

        # Another maintenance command holds the host's lock.
        lock = self.ha.locks.try_lock('host-a1')
        self.addCleanup(lock.release)
        rc, out, err = self.run_cli('maintenance', 'enter', 'a1')
        self.assertEqual(1, rc)
        self.assertIn('another command holds the host lock of a1', err)
        self.assert_not_marked('a1')
        lock.release()

        rc, out, err = self.run_cli('maintenance', 'enter', 'a1',
                                    '--no-drain', '-f', 'json')
        self.assertEqual((0, '[]'), (rc, out.strip()), err)
        self.assert_marked('a1')

        # Vice versa: the host dies while in maintenance; the engine
        # neither fences nor evacuates, and does not restart its VMs.
        # Its incident is held, and judged again on every look; the VM's
        # failure waits for it.
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.publish(events.VM_FAILURE, 'a1', instance=pet['id'],
                        cause='crashed')
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)
        self.assertEqual('a1', self.host_of(pet))
        transitions = [r.message for r in self.ha.history.query(
            kind='transition', host='a1')]
        self.assertTrue(any(
            m.endswith('-> held: a1 is in maintenance: HA is silenced for '
                       'it') for m in transitions), transitions)
        self.assertEqual([], self.ha.history.query(kind='restart'))

        def open_states():
            return [i.state for i in self.ha.history.list_incidents(
                host='a1', open_only=True)]
        self.wait_for(lambda: len(open_states()) == 2,
                      what='the VM incident opened')
        self.assertEqual(['held', 'reported'], open_states())


class _InterruptOnce(io.StringIO):
    """stderr that raises KeyboardInterrupt (as Ctrl-C does) the first time
    the drain reports a VM moved."""

    def __init__(self):
        super().__init__()
        self.fired = False

    def write(self, text):
        super().write(text)
        if not self.fired and ': moved to ' in text:
            self.fired = True
            raise KeyboardInterrupt
        return len(text)


class TestInterruptedDrain(MaintenanceTestBase):

    def test_interrupted_drain_is_safe_and_resumes(self):
        vms = [self.boot_server('vm%d' % p, priority=p, host='a1',
                                flavor_id=self.small) for p in (2, 1)]
        # A cold migration off a1 that an earlier, interrupted drain left
        # waiting for its confirmation.
        parked = self.boot_server('parked', priority=9, host='a1',
                                  flavor_id=self.small)
        self._stop_server(parked)
        self._migrate_server(parked, expected_state='VERIFY_RESIZE',
                             api=self.admin_api)

        stderr = _InterruptOnce()
        rc, out, err = self.run_cli('maintenance', 'enter', 'a1',
                                    '--max-concurrent', '2', '-f', 'json',
                                    stderr=stderr)
        self.assertTrue(stderr.fired)
        self.assertEqual(130, rc, err)
        rows = json.loads(out)
        self.assertEqual(['parked', 'vm2', 'vm1'],
                         [r['Name'] for r in rows])
        results = {r['Name']: r['Result'] for r in rows}
        # The parked VM is confirmed first, vm2 moves beside it; the
        # interrupt comes as the first of them is reported moved, and the
        # other one goes on in Nova.
        self.assertEqual({'moved', 'interrupted'},
                         {results['parked'], results['vm2']})
        self.assertEqual('not_started', results['vm1'])
        self.assertIn('run "maintenance enter a1" again to resume', err)
        self.assert_marked('a1')     # the host is safe whatever happened

        rc, out, err = self.run_cli('maintenance', 'enter', 'a1', '-f',
                                    'json')
        self.assertEqual(0, rc, err)
        rerun = json.loads(out)
        self.assertIn('vm1', [r['Name'] for r in rerun])
        self.assertEqual({'moved'}, {r['Result'] for r in rerun})
        for server in vms + [parked]:
            got = self.admin_api.get_server(server['id'])
            self.assertEqual('a2', got['OS-EXT-SRV-ATTR:host'])
        self.assertEqual('SHUTOFF', self.admin_api.get_server(
            parked['id'])['status'])
        self.assertEqual(['confirmed'], [
            m['status'] for m in self.admin_api.get_migrations()
            if m['instance_uuid'] == parked['id']])
