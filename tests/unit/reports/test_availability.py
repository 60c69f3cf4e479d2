"""Outages and availability from history objects, with times set by hand:
incidents of the earlier recovery flow (steps) built as objects, incidents
of the engine written by its own writer into a real SQLite history.

The period in most tests is one day, 86,400 s, so 864 s of downtime is
exactly 1 % (availability 99 %).
"""

import datetime
import os
import tempfile
import unittest

from nova_ha.history import objects
from nova_ha.history import store as history_store
from nova_ha.reports import availability
from nova_ha.reports import source
from tests.unit.reports import engine_history

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 5, 1, tzinfo=UTC)
DAY = datetime.timedelta(days=1)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def incident(key='host_failure:c1:%s' % at(100).isoformat(), closed=True,
             detail=None, opened=101):
    return objects.Incident(
        key=key, kind='host_failure', host='c1', instance=None,
        state='done' if closed else 'recovering', opened_at=at(opened),
        updated_at=at(500), closed_at=at(500) if closed else None,
        detail=detail)


def plan_step(*vms):
    return {'plan': objects.Step(
        name='plan', status='done', started_at=at(102), updated_at=at(103),
        detail={'vms': [dict(id=vm_id, name=vm_id.upper(), priority=0,
                             status=status) for vm_id, status in vms]})}


_ids = iter(range(1, 10**6))


def record(kind, seconds, instance=None, outcome=None, detail=None,
           host='c1', incident_key=None):
    return objects.HistoryRecord(
        id=next(_ids), at=at(seconds), kind=kind, message='', host=host,
        instance=instance, outcome=outcome, incident=incident_key,
        detail=detail)


class TestHostFailureOutages(unittest.TestCase):

    def test_from_the_report_to_active_again(self):
        # Reported at 100 s (the key's time: the engine replaced the
        # detail when it finished); vm1 back at 130 s, vm2 at 160 s.
        outages = availability.host_failure_outages(
            incident(detail={'moved': 2, 'failed': []}),
            plan_step(('vm1', 'ACTIVE'), ('vm2', 'ACTIVE')),
            [record('evacuate', 130, 'vm1', 'done'),
             record('evacuate', 160, 'vm2', 'done')], segment='seg-a')
        self.assertEqual([('vm1', at(100), at(130), 'recovered'),
                          ('vm2', at(100), at(160), 'recovered')],
                         [(o.vm_id, o.start, o.end, o.outcome)
                          for o in outages])
        self.assertEqual({'seg-a'}, {o.segment for o in outages})
        self.assertEqual('VM1', outages[0].vm_name)

    def test_recorded_report_time_wins_over_the_key(self):
        outages = availability.host_failure_outages(
            incident(detail={'at': at(90).isoformat()}),
            plan_step(('vm1', 'ACTIVE')),
            [record('evacuate', 130, 'vm1', 'done')])
        self.assertEqual(at(90), outages[0].start)

    def test_stopped_vms_lost_no_service(self):
        outages = availability.host_failure_outages(
            incident(), plan_step(('off', 'SHUTOFF'), ('on', 'ACTIVE')),
            [record('evacuate', 130, 'on', 'done'),
             record('evacuate', 131, 'off', 'done')])
        self.assertEqual(['on'], [o.vm_id for o in outages])

    def test_failed_and_unfinished_moves_have_no_end(self):
        outages = availability.host_failure_outages(
            incident(closed=False),
            plan_step(('bad', 'ACTIVE'), ('busy', 'ACTIVE')),
            [record('evacuate', 120, 'bad', 'failed'),
             # a record without outcome (resetting a task) is no result
             record('evacuate', 121, 'busy')])
        self.assertEqual([('bad', None, 'not recovered'),
                          ('busy', None, 'in progress')],
                         [(o.vm_id, o.end, o.outcome) for o in outages])

    def test_no_plan_no_vm_outage(self):
        # Fencing failed: the engine never listed the VMs.
        self.assertEqual([], availability.host_failure_outages(
            incident(), {}, []))


class EngineHistoryTest(unittest.TestCase):
    """A real SQLite history, written as the engine writes it (T0: when the
    engine saw the host dead)."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.store = history_store.HistoryStore(
            'sqlite:///' + os.path.join(tmp.name, 'history.sqlite'))
        self.addCleanup(self.store.close)
        self.store.upgrade()
        self.history = engine_history.EngineHistory(self, self.store, T0)

    def outages(self, key, segment=None):
        incident = self.store.get_incident(key)
        return availability.host_failure_outages(
            incident, self.store.steps(key),
            self.store.query(incident=key, kind='evacuate'), segment)


class TestEngineHostFailureOutages(EngineHistoryTest):

    def test_from_the_opening_to_the_done_record(self):
        h = self.history
        key = h.until_evacuating('c1', [('vm1', 'web', 'ACTIVE'),
                                        ('vm2', 'db', 'ACTIVE'),
                                        ('off', 'off', 'SHUTOFF')])
        for vm in ('vm1', 'vm2', 'off'):
            h.requested(7, vm)
        h.moved(30, 'vm1')
        h.moved(60, 'vm2')
        h.moved(61, 'off', status='SHUTOFF')
        h.close(62, disabled_at=61)
        outages = self.outages(key, segment='seg-a')
        # The stopped VM lost no service; a request is no end.
        self.assertEqual([('vm1', 'web', at(0), at(30), 'recovered'),
                          ('vm2', 'db', at(0), at(60), 'recovered')],
                         [(o.vm_id, o.vm_name, o.start, o.end, o.outcome)
                          for o in outages])
        self.assertEqual({(key, 'c1', 'seg-a', 'host_failure')},
                         {(o.incident, o.host, o.segment, o.cause)
                          for o in outages})

    def test_failed_running_and_deleted_vms(self):
        h = self.history
        key = h.until_evacuating('c1', [('bad', 'bad', 'ACTIVE'),
                                        ('busy', 'busy', 'ACTIVE'),
                                        ('del', 'del', 'ACTIVE')])
        h.requested(7, 'bad')
        h.requested(7, 'busy')
        h.failed(20, 'bad')
        h.gone(40, 'del')
        self.assertEqual([('bad', None, 'not recovered'),
                          ('busy', None, 'in progress'),
                          ('del', at(40), 'deleted')],
                         [(o.vm_id, o.end, o.outcome)
                          for o in self.outages(key)])
        # Closed without its done record: the running one is not back.
        h.now = at(100)
        self.store.operator_request(key, 'close', who='ops', reason='done')
        self.assertEqual([('bad', 'not recovered'),
                          ('busy', 'not recovered'),
                          ('del', 'deleted')],
                         [(o.vm_id, o.outcome) for o in self.outages(key)])

    def test_a_deleted_vm_is_no_recovery(self):
        h = self.history
        key = h.until_evacuating('c1', [('vm1', 'web', 'ACTIVE'),
                                        ('del', 'del', 'ACTIVE')])
        h.moved(30, 'vm1')
        h.gone(90, 'del')
        h.close(91, disabled_at=91)
        rows = availability.per_vm(self.outages(key, 'seg-a'), T0, T0 + DAY)
        # Its downtime counts, until it was found deleted ...
        self.assertEqual({'vm1': (30.0, 0), 'del': (90.0, 0)},
                         {r.vm_id: (r.downtime_s, r.unresolved)
                          for r in rows})
        # ... but not as a recovery time.
        (segment,) = availability.per_segment(rows, T0, T0 + DAY)
        self.assertEqual((30.0,), segment.recoveries_s)

    def test_no_plan_no_vm_outage(self):
        # Fencing failed: the engine parked it before listing the VMs.
        h = self.history
        key = h.open('c1')
        h.move(1, 'fencing', 'guards passed', fence_attempt=1)
        h.move(5, 'parked', 'fencing failed 3 times: not evacuating c1')
        self.assertEqual([], self.outages(key))

    def test_the_failure_is_the_opening_whatever_the_key_number(self):
        h = self.history
        # A number that also reads as a date (2026-04-30).
        key = h.open('c1', seconds=5, sequence=20260430)
        self.assertEqual('host_failure:c1:20260430', key)
        self.assertEqual(at(5), availability.failure_time(
            self.store.get_incident(key)))

    def test_a_final_state_closes_it(self):
        h = self.history
        key = h.until_evacuating('c1', [('vm1', 'web', 'ACTIVE')])
        h.requested(7, 'vm1')
        self.assertIsNone(availability.closed_time(
            self.store.get_incident(key)))
        h.failed(30, 'vm1')
        h.close(40, disabled_at=35)
        incident = self.store.get_incident(key)
        self.assertEqual('partial', incident.state)
        self.assertEqual(at(40), availability.closed_time(incident))


class TestLoadOutages(EngineHistoryTest):

    def test_both_formats_in_one_history(self):
        h = self.history
        new = h.until_evacuating('c1', [('vm1', 'web', 'ACTIVE')],
                                 segment='seg-new')
        h.moved(30, 'vm1')
        h.close(31, disabled_at=31)
        # The earlier flow's incident: decision record with the segment,
        # then the incident, its steps and evacuate records.
        h.now = at(1000)
        self.store.record('decision', 'recovering c2', host='c2',
                          segment='seg-old', outcome='proceed', at=at(999))
        old = 'host_failure:c2:%s' % at(990).isoformat()
        self.store.open_incident(old, 'host_failure', host='c2', detail={
            'at': at(990).isoformat()})
        self.store.mark_step(old, 'plan', 'done', {'vms': [
            {'id': 'vm2', 'name': 'app', 'priority': 0,
             'status': 'ACTIVE'}]})
        self.store.record('evacuate', 'moved', host='c2', instance='vm2',
                          outcome='done', incident=old, at=at(1050))
        self.store.update_incident(old, state='done', detail={'moved': 1})
        outages = source.load_outages(self.store, T0, T0 + DAY)
        self.assertEqual(
            [('vm1', 'seg-new', at(0), at(30), new),
             ('vm2', 'seg-old', at(990), at(1050), old)],
            sorted((o.vm_id, o.segment, o.start, o.end, o.incident)
                   for o in outages))

    def test_an_incident_closed_before_the_period_is_left_out(self):
        h = self.history
        h.until_evacuating('c1', [('vm1', 'web', 'ACTIVE')])
        h.failed(30, 'vm1')
        h.close(40, disabled_at=35)
        # The VM never came back: it counts until the close's period ...
        self.assertEqual(1, len(source.load_outages(self.store, T0,
                                                    T0 + DAY)))
        # ... not in a later one.
        self.assertEqual([], source.load_outages(self.store, at(3600),
                                                 at(7200)))


class TestVMFailureOutages(unittest.TestCase):

    def event(self, seconds, vm, reported=None):
        return record('event.received', seconds + 1, vm, detail={
            'type': 'vm.failure', 'cause': 'crashed', 'host': 'c1',
            'at': at(reported if reported is not None else seconds)
            .isoformat()})

    def test_pairs_each_failure_with_the_next_outcome(self):
        outages = availability.vm_failure_outages(
            [self.event(100, 'vm1'), self.event(300, 'vm1'),
             self.event(200, 'vm2'),
             record('event.received', 50, 'vm1',
                    detail={'type': 'host.down'})],
            [record('restart', 110, 'vm1', 'restarted'),
             record('restart', 320, 'vm1', 'restarted'),
             record('alert', 230, 'vm2', 'escalated')],
            segments={'c1': 'seg-a'})
        self.assertEqual(
            [('vm1', at(100), at(110), 'recovered'),
             ('vm2', at(200), None, 'escalated'),
             ('vm1', at(300), at(320), 'recovered')],
            [(o.vm_id, o.start, o.end, o.outcome) for o in outages])
        self.assertEqual('vm.failure:crashed', outages[0].cause)
        self.assertEqual('seg-a', outages[0].segment)

    def test_outcomes_the_engine_did_not_own_are_no_outage(self):
        outages = availability.vm_failure_outages(
            [self.event(100, 'plain'), self.event(100, 'away')],
            [record('restart', 101, 'plain', 'not_ha'),
             record('restart', 101, 'away', 'ignored')])
        self.assertEqual([], outages)

    def test_no_outcome_yet_is_in_progress(self):
        outages = availability.vm_failure_outages(
            [self.event(100, 'vm1')], [])
        self.assertEqual([(None, 'in progress')],
                         [(o.end, o.outcome) for o in outages])


def outage(vm, start, end, segment='seg-a', key='i1'):
    return availability.Outage(
        vm_id=vm, vm_name='', host='c1', segment=segment,
        cause='host_failure', incident=key, start=at(start),
        end=None if end is None else at(end), outcome='x')


class TestPerVM(unittest.TestCase):

    def test_downtime_and_availability_over_the_period(self):
        rows = availability.per_vm(
            [outage('vm1', 1000, 1864), outage('vm2', 1000, 1432)],
            T0, T0 + DAY)
        self.assertEqual([('vm1', 864.0, 0.99), ('vm2', 432.0, 0.995)],
                         [(r.vm_id, r.downtime_s, round(r.availability, 9))
                          for r in rows])

    def test_clipped_to_the_period(self):
        # Began 100 s before the period, ended 100 s into it.
        rows = availability.per_vm([outage('vm1', -100, 100)], T0,
                                   T0 + DAY)
        self.assertEqual(100.0, rows[0].downtime_s)
        self.assertEqual([], availability.per_vm(
            [outage('vm1', -100, -10)], T0, T0 + DAY))

    def test_a_vm_that_never_came_back_counts_until_the_period_end(self):
        rows = availability.per_vm([outage('vm1', 86400 - 864, None)], T0,
                                   T0 + DAY)
        self.assertEqual(864.0, rows[0].downtime_s)
        self.assertEqual(1, rows[0].unresolved)

    def test_overlapping_outages_count_once(self):
        # 100..300 and 200..400 overlap: 300 s, not 400 s.
        rows = availability.per_vm(
            [outage('vm1', 100, 300), outage('vm1', 200, 400, key='i2'),
             outage('vm1', 1000, 1050, key='i3')], T0, T0 + DAY)
        self.assertEqual(350.0, rows[0].downtime_s)
        self.assertEqual(3, len(rows[0].outages))

    def test_an_empty_period_is_refused(self):
        with self.assertRaises(ValueError):
            availability.per_vm([], T0, T0)


class TestPerSegment(unittest.TestCase):

    def test_averaged_over_the_segments_ha_vms(self):
        vm_rows = availability.per_vm(
            [outage('vm1', 1000, 1864, key='i1'),
             outage('vm2', 1000, 1432, key='i1'),
             outage('vm9', 0, 100, segment='seg-b', key='i2')],
            T0, T0 + DAY)
        population = {'seg-a': {'vm1', 'vm2', 'vm3', 'vm4'},
                      'seg-b': {'vm9'}, 'seg-c': {'vm7'}}
        segments = availability.per_segment(vm_rows, T0, T0 + DAY,
                                            population)
        by_name = {s.segment: s for s in segments}
        # seg-a: (864 + 432) VM-s over 4 VMs x 86400 s:
        #   1 - 1296 / 345600 = 0.99625
        seg_a = by_name['seg-a']
        self.assertEqual((4, 2, 1, 1296.0), (seg_a.vms, seg_a.affected,
                                             seg_a.incidents,
                                             seg_a.downtime_s))
        self.assertAlmostEqual(0.99625, seg_a.availability, places=12)
        self.assertEqual(648.0, seg_a.mean_recovery_s)
        # A segment without outages is listed, fully available.
        self.assertEqual((1, 0, 1.0), (by_name['seg-c'].vms,
                                       by_name['seg-c'].affected,
                                       by_name['seg-c'].availability))

    def test_without_nova_only_affected_vms_count(self):
        vm_rows = availability.per_vm([outage('vm1', 1000, 1864)], T0,
                                      T0 + DAY)
        (segment,) = availability.per_segment(vm_rows, T0, T0 + DAY)
        self.assertEqual(1, segment.vms)
        self.assertAlmostEqual(0.99, segment.availability, places=12)
