"""The recovery engine against the in-process Nova cloud.

Events travel as they do in production: monitors publish on our topic
through oslo.messaging (fake:// transport), the engine's listener takes
them, and the engine acts through Nova's REST API (openstacksdk).  Only the
BMCs are simulated (see nova_ha.testing.engine).
"""

from nova_ha.testing import cloud  # noqa: I100  (imports Nova's test mode)

import datetime
import time

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import events
from nova_ha.notifier import process_flow
from nova_ha.notifier import server_snapshot
from nova_ha.testing import engine as engine_harness


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
            forward_nova=self.FORWARD_NOVA)
        self.addCleanup(self.ha.stop)

    def service(self, host):
        return self.admin_api.get_services(host=host,
                                           binary='nova-compute')[0]

    def kinds(self, kind, **filters):
        return [r for r in self.ha.history.query(kind=kind, **filters)]


class TestHostFailure(EngineTestBase):

    # One evacuation in Nova's scheduling path at a time, so the priority
    # order of the requests is observable.
    SETTINGS = {'max_concurrent_evacuations': 1}

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

        moved = {r.instance for r in self.kinds('evacuate')
                 if r.outcome == 'done'}
        self.assertEqual({high['id'], stopped['id'], low['id'],
                          masakari['id']}, moved)
        # Requested one by one (each once its target claimed the one
        # before), highest priority first.
        incident = self.ha.history.list_incidents(host='a1')[0]
        begun = [name.split(':', 1)[1] for name in
                 self.ha.history.steps(incident.key)
                 if name.startswith('evacuate:')]
        self.assertEqual([high['id'], stopped['id'], low['id'],
                          masakari['id']], begun)

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
        incident = self.ha.history.list_incidents(host='a1')[0]
        self.assertEqual('done', incident.state)

    def test_vm_in_error_is_moved_and_stays_in_error(self):
        # Nova rebuilds it ACTIVE; the rebuild notification says so, and
        # the engine puts it back in ERROR (a person must still look).
        broken = self.boot_server('broken', host='a1', flavor_id=self.small)
        self.admin_api.post_server_action(
            broken['id'], {'os-resetState': {'state': 'error'}})
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()
        got = self.admin_api.get_server(broken['id'])
        self.assertEqual(('a-spare', 'ERROR'),
                         (got['OS-EXT-SRV-ATTR:host'], got['status']))
        (power,) = self.kinds('power')
        self.assertIn('restored %s to ERROR' % broken['id'], power.message)
        (moved,) = [r for r in self.kinds('evacuate') if r.outcome == 'done']
        self.assertEqual('ERROR', moved.detail['status'])

    def test_same_failure_reported_five_times_recovers_once(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        for _ in range(5):
            self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()
        self.assertEqual(['a1'], self.ha.bmcs.calls)
        self.assertEqual(1, len(self.ha.history.list_incidents(host='a1')))
        self.assertEqual('a-spare', self.host_of(server))
        self.assertEqual(1, len([r for r in self.kinds('evacuate')
                                 if r.outcome == 'done']))

    def test_fence_failure_means_no_evacuation(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        self.ha.bmcs.broken.add('a1')
        self.ha.publish(events.HOST_DOWN, 'a1')
        self.ha.wait_idle()
        self.assertEqual(['a1', 'a1'], self.ha.bmcs.calls)   # 2 attempts
        self.assertEqual('a1', self.host_of(server))
        self.assertFalse(self.service('a1')['forced_down'])
        alerts = [r.message for r in self.kinds('alert')]
        self.assertTrue(any('not evacuating a1' in m for m in alerts),
                        alerts)
        self.assertEqual('fence_failed',
                         self.ha.history.list_incidents(host='a1')[0].state)

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
        reasons = ' | '.join(r.message for r in self.kinds('decision'))
        self.assertIn('a1 is in maintenance', reasons)
        self.assertIn('segment seg-b has ha:enabled=false', reasons)

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
        self.assertEqual('failed',
                         self.ha.history.list_incidents(host='a1')[0].state)


class TestTakeover(EngineTestBase):

    def test_engine_finishes_a_dead_engines_recovery_without_repeating(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        # Another engine fenced a1 and forced it down, then died: its
        # incident and completed steps are in the shared history.
        history = self.ha.history
        history.open_incident('host_failure:a1:earlier', 'host_failure',
                              host='a1')
        history.update_incident('host_failure:a1:earlier',
                                state='recovering')
        for step in ('fence', 'force_down'):
            history.mark_step('host_failure:a1:earlier', step, 'done')
        self.admin_api.put_service(self.service('a1')['id'],
                                   {'forced_down': 'true'})

        self.ha.publish(events.HOST_DOWN, 'a1')
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)     # not fenced twice
        self.assertEqual('a-spare', self.host_of(server))
        incidents = history.list_incidents(host='a1')
        self.assertEqual(['done'], [i.state for i in incidents])
        self.assertEqual('disabled', self.service('a1')['status'])

    def test_takeover_after_the_plan_keeps_it_and_finishes_a_begun_move(self):
        moved = self.boot_server('moved', host='a1', flavor_id=self.small)
        waiting = self.boot_server('waiting', host='a1', flavor_id=self.small)
        late = self.boot_server('late', host='a1', flavor_id=self.small)
        self.ha.kill_host('a1')
        self.admin_api.put_service(self.service('a1')['id'],
                                   {'forced_down': 'true'})
        # The dead engine planned two VMs (not 'late', booted "after" its
        # read), asked Nova to evacuate the first, and died.
        self.admin_api.post_server_action(moved['id'], {'evacuate': {}})
        self._wait_for_state_change(moved, 'SHUTOFF')   # 2.95+: stopped
        key = 'host_failure:a1:earlier'
        history = self.ha.history
        history.open_incident(key, 'host_failure', host='a1')
        history.update_incident(key, state='recovering')
        for step in ('fence', 'force_down'):
            history.mark_step(key, step, 'done')
        plan = [{'id': s['id'], 'name': s['name'], 'priority': 0,
                 'status': 'ACTIVE', 'problems': []}
                for s in (moved, waiting)]
        history.mark_step(key, 'plan', 'done', {'vms': plan})
        history.mark_step(key, 'evacuate:' + moved['id'], 'started')

        self.ha.publish(events.HOST_DOWN, 'a1')
        self.ha.wait_idle()
        self.assertEqual([], self.ha.bmcs.calls)     # not fenced again
        # The begun move is finished (power restored), the other made;
        # the recorded plan is kept: 'late' was not in it.
        for server in (moved, waiting):
            got = self.admin_api.get_server(server['id'])
            self.assertEqual(('a-spare', 'ACTIVE'), (
                got['OS-EXT-SRV-ATTR:host'], got['status']), server['name'])
        self.assertEqual('a1', self.host_of(late))
        steps = history.steps(key)
        self.assertEqual({'done'}, {s.status for s in steps.values()})
        self.assertEqual(['done'], [i.state for i in
                                    history.list_incidents(host='a1')])


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

    def test_half_a_segment_down_is_a_partition_not_a_failure(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        for host in ('a1', 'a2'):   # 2 of seg-a's 3 hosts
            self.ha.kill_host(host)
            self.ha.publish(events.HOST_DOWN, host)
        self.ha.wait_idle()
        self.assertEqual('a1', self.host_of(server))
        self.assertEqual([], self.ha.bmcs.calls)
        alerts = ' | '.join(r.message for r in self.kinds('alert'))
        self.assertIn('storm guard', alerts)


class TestStormBurst(EngineTestBase):

    # The default rule: a segment's first report is judged at once, the
    # next ones within the settle time wait it out and see the storm.
    SETTINGS = {'storm_burst_hosts': 1, 'storm_settle_time': 4.0}

    def test_first_host_is_recovered_at_once_the_storm_stops_the_rest(self):
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
        self.assertEqual(['a1'], self.ha.bmcs.calls)
        self.assertEqual('a-spare', self.host_of(first))
        self.assertEqual('a2', self.host_of(second))
        (storm,) = [r for r in self.kinds('alert', host='a2')]
        self.assertIn('storm guard', storm.message)
        (reported,) = self.kinds('event.received', host='a2')
        self.assertGreaterEqual((storm.at - reported.at).total_seconds(),
                                3.9)


class TestMovesFollowNotifications(EngineTestBase):

    # No poll of the API comes within the test's patience: the moves can
    # only end through Nova's rebuild notifications.
    SETTINGS = {'poll_interval': 300.0, 'poll_interval_max': 300.0,
                'poll_interval_notified': 300.0}

    def test_moves_end_on_nova_rebuild_notifications(self):
        running = self.boot_server('running', host='a1',
                                   flavor_id=self.small)
        stopped = self.boot_server('stopped', host='a1',
                                   flavor_id=self.small)
        self._stop_server(stopped)
        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle(timeout=60)

        for server, status in ((running, 'ACTIVE'), (stopped, 'SHUTOFF')):
            got = self.admin_api.get_server(server['id'])
            self.assertEqual('a-spare', got['OS-EXT-SRV-ATTR:host'])
            self.assertEqual(status, got['status'])
        moved = {r.instance: r.detail for r in self.kinds('evacuate')
                 if r.outcome == 'done'}
        self.assertEqual({'a-spare'}, {d['target'] for d in moved.values()})
        self.assertEqual('SHUTOFF', moved[stopped['id']]['status'])
        self.assertEqual('done', self.ha.history.list_incidents(
            host='a1')[0].state)


class TestPlanFromTheServerInventory(EngineTestBase):
    """A recovery plans from the inventory the engine read before the
    failure, corrected by what Nova changed since, and makes no full
    read of the failed host."""

    SETTINGS = {'server_inventory_interval': 3600.0}

    def test_changes_after_the_inventory_read_are_planned(self):
        kept = self.boot_server('kept', priority=1, host='a1',
                                flavor_id=self.small)
        tagged_late = self.boot_server('tagged-late', ha=False, host='a1',
                                       flavor_id=self.small)
        full_reads = []
        real_servers_on = self.ha.nova.servers_on

        def servers_on(host, changes_since=None):   # a spy: Nova answers
            if changes_since is None:
                full_reads.append(host)
            return real_servers_on(host, changes_since=changes_since)
        self.ha.nova.servers_on = servers_on
        # The inventory's read counts as made 11 s from now, so its
        # correction (reaching back 10 s less) sees only what changes
        # from now on: a metadata change alone must show in it.
        ahead = datetime.timedelta(seconds=11)
        inventory = self.ha.engine.inventory
        inventory._now = lambda: server_snapshot.utcnow() + ahead
        inventory.refresh()
        self.assertEqual({kept['id'], tagged_late['id']},
                         {s['id'] for s in inventory.on('a1').servers})
        time.sleep(1.1)     # Nova's change times come after "now"
        self.admin_api.post_server_metadata(
            tagged_late['id'], {'ha:enabled': 'true', 'ha:priority': '9'})
        arrived = self.boot_server('arrived', host='a1',
                                   flavor_id=self.small)

        self.ha.kill_host('a1')
        self.ha.publish(events.HOST_DOWN, 'a1', source='servicegroup')
        self.ha.wait_idle()

        self.assertEqual([], full_reads)
        moved = [r.instance for r in self.kinds('evacuate')
                 if r.outcome == 'done']
        self.assertEqual({kept['id'], tagged_late['id'], arrived['id']},
                         set(moved))
        plan = [r for r in self.kinds('decision')
                if r.message.startswith('plan for a1')][0]
        self.assertIn('priority order: tagged-late(9), kept(1), '
                      'arrived(0)', plan.message)
        for server in (kept, tagged_late, arrived):
            self.assertEqual('a-spare', self.host_of(server))


class TestVMFailure(EngineTestBase):

    # The tests stop a server through the API to stand in for Nova's
    # power-state sync stopping a guest that died; forwarded, the stop's
    # notification would rightly tell the engine a user stopped it.  The
    # user-stop test hands that notification over itself.
    FORWARD_NOVA = False

    def test_crashed_vm_is_restarted_once(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        # The guest died and Nova's power sync stopped the server.
        self._stop_server(server)
        self.ha.publish(events.VM_FAILURE, 'a1', instance=server['id'],
                        cause='crashed', source='libvirt')
        self.ha.wait_idle()
        self.assertEqual('ACTIVE',
                         self.admin_api.get_server(server['id'])['status'])
        restarts = [r for r in self.kinds('restart')
                    if r.outcome == 'restarted']
        self.assertEqual(1, len(restarts))

    def test_vm_stopped_by_its_user_is_not_restarted(self):
        server = self.boot_server('pet', host='a1', flavor_id=self.small)
        self._stop_server(server)
        # Nova's notification of that stop names the user who asked.
        stop = [n for n in self.notifier.versioned_notifications
                if n['event_type'] == 'instance.power_off.end'][-1]
        self.ha.engine.submit_nova_notification(
            stop['event_type'], stop['payload'], stop['publisher_id'])
        self.ha.publish(events.VM_FAILURE, 'a1', instance=server['id'],
                        cause='stopped_failed')
        self.ha.wait_idle()
        self.assertEqual('SHUTOFF',
                         self.admin_api.get_server(server['id'])['status'])
        skipped = [r.message for r in self.kinds('restart')]
        self.assertTrue(any('stopped by its user' in m for m in skipped),
                        skipped)

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
        self.assertEqual(process_flow.DISABLED_REASON,
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
