"""The recovery engine against the in-process Nova cloud.

Events travel as they do in production: monitors publish on our topic
through oslo.messaging (fake:// transport), the engine's listener takes
them, and the engine acts through Nova's REST API (openstacksdk).  Only the
BMCs are simulated (see nova_ha_testbed.engine).
"""

from nova_ha_testbed import cloud  # noqa: I100  (imports Nova's test mode)

import os
import time

from nova.compute import power_state
from nova import context as nova_context

from nova_ha.engine import process_failure
from nova_ha.engine import real_env
from nova_ha.engine import vm_failure
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import events
from nova_ha.servicegroup import confirm as sg_confirm

from nova_ha_testbed import engine as engine_harness


class EngineTestBase(cloud.HACloudTestCase):

    SETTINGS = {}
    # Nova's notifications reach the engine through nova_ha_forward.
    FORWARD_NOVA = True

    def setUp(self):
        super().setUp()
        self.small = self._create_flavor(
            name='small', memory_mb=512, vcpu=1, disk=1, ephemeral=0)
        self.ha = engine_harness.EngineHarness(
            self, engine_harness.fast_settings(**self.SETTINGS),
            forward_nova=self.FORWARD_NOVA,
            host_settings=engine_harness.fast_core_settings(
                **self.SETTINGS))
        self.addCleanup(self.ha.stop)

    def service(self, host):
        return self.admin_api.get_services(host=host,
                                           binary='nova-compute')[0]

    def kinds(self, kind, **filters):
        return [r for r in self.ha.history.query(kind=kind, **filters)]


class TestHostFailure(EngineTestBase):

    def evacuations(self):
        """Nova's evacuation records, oldest first."""
        return sorted((m for m in self.admin_api.get_migrations()
                       if m['migration_type'] == 'evacuation'),
                      key=lambda m: (m['created_at'], m['id']))

    def incident(self, host='a1'):
        (incident,) = self.ha.history.list_incidents(host=host)
        return incident

    def test_host_failure_moves_only_ha_vms_in_priority_order(self):
        low = self.boot_server('low', priority=1, host='a1',
                               flavor_id=self.small)
        high = self.boot_server('high', priority=10, host='a1',
                                flavor_id=self.small)
        stopped = self.boot_server('stopped', priority=5, host='a1',
                                   flavor_id=self.small)
        self._stop_server(stopped)
        plain = self.boot_server('plain', ha=False, host='a1',
                                 flavor_id=self.small)
        masakari = self.boot_server('masakari', ha=False, host='a1',
                                    flavor_id=self.small,
                                    extra_md={'HA_Enabled': 'True'})

        self.ha.kill_host('a1')     # the hypervisor loses power
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()

        self.assertEqual(['a1'], self.ha.bmcs.calls)
        for server, status in ((high, 'ACTIVE'), (low, 'ACTIVE'),
                               (masakari, 'ACTIVE'), (stopped, 'SHUTOFF')):
            got = self.admin_api.get_server(server['id'])
            # rh_priority (the default): the segment's reserved host first.
            self.assertEqual('a-spare', got['OS-EXT-SRV-ATTR:host'],
                             server['name'])
            self.assertEqual(status, got['status'], server['name'])
        self.assertEqual('a1', self.host_of(plain))

        # Nova's own records: one evacuation per HA VM, asked for
        # highest priority first.
        self.assertEqual([high['id'], stopped['id'], low['id'],
                          masakari['id']],
                         [m['instance_uuid'] for m in self.evacuations()])
        moved = {r.instance for r in self.kinds('evacuate')
                 if r.outcome == 'done'}
        self.assertEqual({high['id'], stopped['id'], low['id'],
                          masakari['id']}, moved)

        service = self.service('a1')
        self.assertEqual('down', service['state'])
        self.assertTrue(service['forced_down'])
        self.assertEqual('disabled', service['status'])
        self.assertTrue(service['disabled_reason'].startswith('nova-ha:'))

        # The reserved host received VMs: it is no longer reserved.
        reserved = self.admin_api.api_get(
            '/os-aggregates/%s' % self.aggregates[self.RESERVED_AGGREGATE]
        ).body['aggregate']['hosts']
        self.assertEqual(['b-spare'], reserved)
        incident = self.incident()
        self.assertEqual('recovered', incident.state)
        # Every record of the incident carries the owner's fencing token.
        self.assertEqual({incident.generation}, {
            r.token for r in self.ha.history.query(incident=incident.key)})

    def test_vm_in_error_is_moved_and_stays_in_error(self):
        broken = self.boot_server('broken', host='a1', flavor_id=self.small)
        self.admin_api.post_server_action(
            broken['id'], {'os-resetState': {'state': 'error'}})
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()
        got = self.admin_api.get_server(broken['id'])
        self.assertEqual(('a-spare', 'ERROR'),
                         (got['OS-EXT-SRV-ATTR:host'], got['status']))
        (moved,) = [r for r in self.kinds('evacuate') if r.outcome == 'done']
        self.assertIn('now ERROR', moved.message)

    def test_same_failure_reported_five_times_recovers_once(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        for _ in range(5):
            self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()
        self.assertEqual(['a1'], self.ha.bmcs.calls)
        self.assertEqual(1, len(self.ha.history.list_incidents(host='a1')))
        self.assertEqual('a-spare', self.host_of(server))
        self.assertEqual(1, len(self.evacuations()))

    def test_maintenance_and_disabled_segment_do_nothing(self):
        self.create_aggregate('maint', ['a1'],
                              {ha_aggregates.MAINTENANCE_KEY: 'true'})
        self.set_aggregate_metadata(self.aggregates['seg-b'],
                                    {ha_aggregates.ENABLED_KEY: 'false'})
        on_a1 = self.boot_server('a', host='a1', flavor_id=self.small)
        on_b1 = self.boot_server('b', host='b1', flavor_id=self.small)
        for host in ('a1', 'b1'):
            self.ha.kill_host(host)
            self.ha.publish(events.HOST_DOWN, host)
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)
        self.assertEqual('a1', self.host_of(on_a1))
        self.assertEqual('b1', self.host_of(on_b1))
        reasons = ' | '.join(r.message for r in self.kinds('transition'))
        self.assertIn('a1 is in maintenance', reasons)
        self.assertIn('segment seg-b has ha:enabled=false', reasons)
        self.assertEqual({'held'}, {i.state for i in
                                    self.ha.history.list_incidents()})

    def test_failed_evacuation_is_recorded_and_others_continue(self):
        # a2 is disabled and the reserved host has room for one of the two
        # VMs only: the second evacuation fails in Nova (no valid host).
        half = self._create_flavor(name='half', memory_mb=3000, vcpu=1,
                                   disk=1, ephemeral=0)
        first = self.boot_server('first', priority=9, host='a1',
                                 flavor_id=half)
        second = self.boot_server('second', priority=1, host='a1',
                                  flavor_id=half)
        self.admin_api.put_service(self.service('a2')['id'],
                                   {'status': 'disabled'})
        self._reserve_placement_resource('a-spare', 'MEMORY_MB', 4500)
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1')
        self.ha.wait_idle()
        self.assertEqual('a-spare', self.host_of(first))
        self.assertEqual('a1', self.host_of(second))
        outcomes = {r.instance: r.outcome for r in self.kinds('evacuate')}
        self.assertEqual('done', outcomes[first['id']])
        self.assertEqual('failed', outcomes[second['id']])
        self.assertEqual('partial', self.incident().state)
        # Each try of the second VM is one of Nova's records: the engine
        # stopped at evacuate_attempts.
        tries = [m for m in self.evacuations()
                 if m['instance_uuid'] == second['id']]
        self.assertEqual(2, len(tries))


class TestFenceFailure(EngineTestBase):

    SETTINGS = {'confirm': sg_confirm.ConfirmThresholds(max_wait_s=3.0)}

    def test_no_proof_of_power_off_means_no_evacuation(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        self.ha.bmcs.broken.add('a1')     # the BMC does not answer
        self.ha.publish(events.HOST_DOWN, 'a1')
        self.ha.wait_idle()
        self.assertEqual('a1', self.host_of(server))
        self.assertFalse(self.service('a1')['forced_down'])
        alerts = ' | '.join(r.message for r in self.kinds('alert'))
        self.assertIn('power-off cannot be proven', alerts)
        (incident,) = self.ha.history.list_incidents(host='a1')
        self.assertEqual('parked', incident.state)

        # The operator attests the host is off: the guards run again and
        # the VM moves, with the proof recorded as the operator's.
        self.ha.history.operator_request(incident.key, 'confirm_down',
                                         who='alice', reason='unplugged')
        self.ha.daemon.wake()
        self.ha.wait_idle()
        self.assertEqual('a-spare', self.host_of(server))
        self.assertEqual([], self.ha.bmcs.calls)
        fenced = [r.message for r in self.kinds('transition')
                  if '-> fenced' in r.message]
        self.assertEqual(1, len(fenced))
        self.assertIn('attested by operator alice', fenced[0])


class TestTakeover(EngineTestBase):
    """A dead engine's incident, as the shared history holds it, is taken
    over (its lease is free) and finished without repeating a step."""

    def _dead_engines_incident(self, state, **facts):
        """The dead engine's incident, and its lease, held (by another
        member of the coordination backend) until ``expire()``."""
        key = 'host_failure:a1:1'
        self.dead = real_env.ToozLeases(
            'file://' + os.path.join(self.ha.tmp, 'leases'), 'dead-engine')
        self.addCleanup(self.dead.stop)
        self.assertTrue(self.dead.acquire(key))
        self.ha.history.open_incident(
            key, 'host_failure', host='a1', state=state, owner='dead-engine',
            generation=1, detail=facts)
        return key

    def expire(self, key):
        self.dead.release(key)
        self.ha.daemon.wake()

    def test_engine_finishes_a_dead_engines_recovery_without_repeating(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        # Another engine fenced a1, recorded it, and died.
        key = self._dead_engines_incident(
            'fenced', proof={'rung': 'bmc', 'outcome': 'fenced'})
        self.ha.kill_host('a1')
        self.expire(key)
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)     # not fenced twice
        self.assertEqual('a-spare', self.host_of(server))
        incident = self.ha.history.get_incident(key)
        self.assertEqual(('recovered', 2, 'engine-test'), (
            incident.state, incident.generation, incident.owner))
        self.assertEqual('disabled', self.service('a1')['status'])

    def test_takeover_follows_a_begun_move_and_keeps_the_plan(self):
        moved = self.boot_server('moved', host='a1', flavor_id=self.small)
        waiting = self.boot_server('waiting', host='a1', flavor_id=self.small)
        late = self.boot_server('late', host='a1', flavor_id=self.small)
        plan = [{'id': s['id'], 'name': s['name'], 'priority': 0,
                 'status': 'ACTIVE'} for s in (moved, waiting)]
        key = self._dead_engines_incident(
            'evacuating', plan=plan, moved={}, started=time.time(),
            proof={'rung': 'bmc', 'outcome': 'fenced'})
        self.ha.kill_host('a1')
        self.admin_api.put_service(self.service('a1')['id'],
                                   {'forced_down': 'true'})
        # The dead engine planned two VMs (not 'late', booted "after" its
        # read), asked Nova to evacuate the first, and died.
        self.admin_api.post_server_action(moved['id'], {'evacuate': {}})
        self._wait_for_state_change(moved, 'SHUTOFF')   # 2.95+: stopped
        self.expire(key)
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)     # not fenced again
        for server in (moved, waiting):
            got = self.admin_api.get_server(server['id'])
            self.assertEqual(('a-spare', 'ACTIVE'), (
                got['OS-EXT-SRV-ATTR:host'], got['status']), server['name'])
        self.assertEqual('a1', self.host_of(late))
        # Nova's records: one evacuation each, the begun one not repeated.
        evacuations = [m['instance_uuid'] for m in
                       self.admin_api.get_migrations()
                       if m['migration_type'] == 'evacuation']
        self.assertEqual(sorted([moved['id'], waiting['id']]),
                         sorted(evacuations))
        self.assertEqual('recovered',
                         self.ha.history.get_incident(key).state)


class TestSecondChannel(EngineTestBase):
    """A heartbeat loss (source servicegroup) is confirmed before fencing."""

    def test_network_blip_is_not_a_death_sentence(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        # a1 is powered and its nova-compute still reports to Nova: only
        # its link to the coordination service broke.
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.wait_for(lambda: [r for r in self.kinds('decision')
                               if '(R3)' in r.message], timeout=30)
        self.ha.publish(events.HOST_UP, 'a1', source='servicegroup')
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)
        self.assertEqual('a1', self.host_of(server))
        self.assertEqual('up', self.service('a1')['state'])
        self.assertEqual(['cancelled'], [
            i.state for i in self.ha.history.list_incidents(host='a1')])

    def test_power_loss_confirmed_by_the_bmc_is_recovered(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()
        self.assertEqual('a-spare', self.host_of(server))
        self.assertTrue([r for r in self.kinds('decision')
                         if '(R2)' in r.message])


class TestStormGuard(EngineTestBase):

    # Strict: every report waits for the others before it is judged.
    SETTINGS = {'storm_burst_hosts': 0, 'storm_settle_time': 1.0}

    def test_half_a_segment_hanging_is_a_partition_not_a_failure(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        for host in ('a1', 'a2'):   # 2 of seg-a's 3 hosts
            # Hung: the BMC still says on, no proof of death.
            self.computes[host].stop()
            self.ha.publish(events.HOST_DOWN, host)
        # Nova's own heartbeat of the stopped computes goes stale only
        # after its service_down_time: mark them forced down by hand, as
        # an impatient operator would, so the confirmation passes (R5).
        for host in ('a1', 'a2'):
            self.admin_api.put_service(self.service(host)['id'],
                                       {'forced_down': 'true'})
        self.ha.daemon.wake()
        self.wait_for(lambda: self.kinds('alert'), timeout=30)
        self.ha.wait_idle()
        self.assertEqual('a1', self.host_of(server))
        self.assertEqual([], self.ha.bmcs.calls)
        alerts = ' | '.join(r.message for r in self.kinds('alert'))
        self.assertIn('storm guard', alerts)


class TestStormBurst(EngineTestBase):

    # The default rule: a segment's first report is judged at once, the
    # next ones within the settle time wait it out, unless their power is
    # proven off (see tests/scenarios for the waits).
    SETTINGS = {'storm_burst_hosts': 1, 'storm_settle_time': 4.0}

    def test_hosts_proven_off_are_not_held_by_the_storm_rules(self):
        first = self.boot_server('first', host='a1', flavor_id=self.small)
        second = self.boot_server('second', host='a2', flavor_id=self.small)
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1')
        # Fenced well before the settle time: nobody waited for it.
        self.wait_for(lambda: self.ha.bmcs.calls, timeout=3.0,
                      what='a1 fenced without waiting the settle time')
        self.ha.kill_host('a2')
        self.ha.publish(events.HOST_DOWN, 'a2')
        self.ha.wait_idle()
        # Both lost power (their BMCs say off): dead for certain, not a
        # partition, so the second is judged at once too.
        self.assertEqual(['a1', 'a2'], self.ha.bmcs.calls)
        self.assertEqual('a-spare', self.host_of(first))
        self.assertNotEqual('a2', self.host_of(second))
        opened = [r for r in self.kinds('transition', host='a2')
                  if 'opened' in r.message][0]
        judged = [r for r in self.kinds('decision', host='a2')
                  if r.message.startswith('recovering a2')][0]
        self.assertLess((judged.at - opened.at).total_seconds(), 3.9)


class VMFailureHelpers:

    def vm_incidents(self, server):
        """The states of the VM's incidents, oldest first."""
        return [i.state for i in self.ha.history.list_incidents(
            kind=vm_failure.KIND) if i.instance == server['id']]

    def power_sync_stops(self, server, host='a1'):
        """The guest dies under nova-compute, and Nova's power sync
        stops the server itself (no user), as it does for a crash."""
        compute = self.computes[host]
        compute.driver.instances[server['id']].state = power_state.SHUTDOWN
        compute.manager._sync_power_states(nova_context.get_admin_context())
        self._wait_for_state_change(server, 'SHUTOFF')

    def crash_after_tries(self, tries, wait=True):
        """A VM that crashes after ``tries`` earlier tries, recorded in the
        shared history by its previous incident (another replica's, or
        this engine's before a restart)."""
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        if tries:
            self.ha.history.open_incident(
                'vm_failure:%s:1' % server['id'], vm_failure.KIND,
                host='a1', instance=server['id'],
                state=vm_failure.RECOVERED, generation=1,
                detail={'vm': server['id'], 'tries': [time.time()] * tries})
        self.power_sync_stops(server)
        self.ha.publish(events.VM_FAILURE, 'a1', instance=server['id'],
                        cause='crashed')
        if wait:
            self.ha.wait_idle()
        return server


class TestVMRestartBackoff(VMFailureHelpers, EngineTestBase):

    FORWARD_NOVA = False
    SETTINGS = {'vm_restart_backoff': (6.0, 6.0)}

    def test_a_vm_started_during_the_back_off_is_left_alone(self):
        # A try that follows an earlier one waits; its owner starting the
        # VM meanwhile ends the wait without another restart.
        server = self.crash_after_tries(1, wait=False)
        time.sleep(1.0)
        self._start_server(server)
        self.ha.wait_idle()
        self.assertEqual([vm_failure.SKIPPED], self.vm_incidents(server)[1:])
        self.assertNotIn('restarted', [r.outcome for r in
                                       self.kinds('restart')])


class TestVMFailure(VMFailureHelpers, EngineTestBase):

    FORWARD_NOVA = False

    def test_crashed_vm_is_restarted_once(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.power_sync_stops(server)
        self.ha.publish(events.VM_FAILURE, 'a1', instance=server['id'],
                        cause='crashed', source='libvirt')
        self.ha.wait_idle()
        self.assertEqual('ACTIVE',
                         self.admin_api.get_server(server['id'])['status'])
        restarts = [r for r in self.kinds('restart')
                    if r.outcome == 'restarted']
        self.assertEqual(1, len(restarts))

    def test_restart_budget_is_shared_through_the_history(self):
        # Another replica (or this engine before a restart) restarted the
        # VM as often as allowed: its records are in the shared history.
        # Three restarts and the migration: the ladder is spent.
        server = self.crash_after_tries(4)
        self.assertEqual('SHUTOFF',
                         self.admin_api.get_server(server['id'])['status'])
        (alert,) = [r for r in self.kinds('alert')
                    if r.instance == server['id']]
        self.assertEqual('escalated', alert.outcome)

    def test_restarts_that_do_not_hold_end_in_a_move_within_the_segment(self):
        server = self.crash_after_tries(3)
        moved = self.admin_api.get_server(server['id'])
        self.assertEqual('ACTIVE', moved['status'])
        target = moved['OS-EXT-SRV-ATTR:host']
        self.assertNotEqual('a1', target)
        self.assertTrue(target.startswith('a'), target)   # segment A
        (record,) = [r for r in self.kinds('restart')
                     if r.outcome == 'migrated']
        self.assertIn('a1 to %s' % target, record.message)

    def test_vm_stopped_by_its_user_is_not_restarted(self):
        # Nova's instance actions record who stopped it: no notification
        # is needed, and every replica reads the same.
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self._stop_server(server)
        self.ha.publish(events.VM_FAILURE, 'a1', instance=server['id'],
                        cause='stopped_failed')
        self.ha.wait_idle()
        self.assertEqual('SHUTOFF',
                         self.admin_api.get_server(server['id'])['status'])
        self.assertEqual([vm_failure.SKIPPED], self.vm_incidents(server))
        why = [r.message for r in self.kinds('transition')]
        self.assertTrue(any('stopped by its user' in m for m in why), why)

    def test_non_ha_vm_is_left_alone(self):
        server = self.boot_server('plain', ha=False, host='a1',
                                  flavor_id=self.small)
        self._stop_server(server)
        self.ha.publish(events.VM_FAILURE, 'a1', instance=server['id'],
                        cause='crashed')
        self.ha.wait_idle()
        self.assertEqual('SHUTOFF',
                         self.admin_api.get_server(server['id'])['status'])


class TestProcessFailure(EngineTestBase):

    def setUp(self):
        # A dead nova-compute must look down to Nova within the test: the
        # DB servicegroup driver with a short down time.
        self.flags(report_interval=1, service_down_time=8)
        super().setUp()

    def test_dead_nova_compute_disables_and_recovery_reenables(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.computes['a1'].stop()
        self.ha.publish(events.PROCESS_DOWN, 'a1', process='nova-compute')
        self.ha.wait_idle()
        service = self.service('a1')
        self.assertEqual('disabled', service['status'])
        self.assertEqual(process_failure.DISABLED_REASON,
                         service['disabled_reason'])
        self.assertFalse(service['forced_down'])
        self.assertEqual([], self.ha.bmcs.calls)   # the host is alive
        self.assertEqual('a1', self.host_of(server))

        self.computes['a1'] = self.restart_compute_service(self.computes['a1'])
        self.ha.publish(events.PROCESS_UP, 'a1', process='nova-compute')
        self.ha.wait_idle()
        self.assertEqual('enabled', self.service('a1')['status'])

    def test_host_stays_disabled_until_every_process_is_back(self):
        self.computes['a1'].stop()
        self.ha.publish(events.PROCESS_DOWN, 'a1', process='libvirtd')
        self.ha.publish(events.PROCESS_DOWN, 'a1', process='nova-compute')
        self.ha.wait_idle()
        self.assertEqual('disabled', self.service('a1')['status'])
        # libvirtd back alone: nova-compute still cannot manage VMs.
        self.ha.publish(events.PROCESS_UP, 'a1', process='libvirtd')
        self.ha.wait_idle()
        self.assertEqual('disabled', self.service('a1')['status'])
        self.computes['a1'] = self.restart_compute_service(self.computes['a1'])
        self.ha.publish(events.PROCESS_UP, 'a1', process='nova-compute')
        self.ha.wait_idle()
        self.assertEqual('enabled', self.service('a1')['status'])


class TestBadInput(EngineTestBase):
    # The parser behind the signature check: unsigned messages reach it.
    SETTINGS = {'signing_required': False}

    def test_malformed_messages_are_rejected_recorded_and_survived(self):
        bad = [('host.down', {'schema': 'nova-ha.event/1'}),
               ('host.down', 'not a dict'),
               ('vm.failure', {'schema': 'nova-ha.event/1', 'host': 'a1',
                               'instance': 'not-a-uuid', 'cause': 'crashed'}),
               ('reboot.everything', {'schema': 'nova-ha.event/1',
                                      'host': 'a1'}),
               ('host.down', {'schema': 'v0', 'host': 'a1'})]
        for event_type, payload in bad:
            self.ha.notifier.info({}, event_type, payload)
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1')
        self.ha.wait_idle()
        rejected = self.kinds('event.rejected')
        self.assertEqual(len(bad), len(rejected))
        self.assertIn("missing 'host'", rejected[0].message)
        # ...and the listener kept going: the real failure was handled.
        self.assertEqual('a-spare', self.host_of(server))
