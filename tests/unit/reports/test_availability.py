"""Outages and availability from history objects, with times set by hand.

The period in most tests is one day, 86,400 s, so 864 s of downtime is
exactly 1 % (availability 99 %).
"""

import datetime
import unittest

from nova_ha.history import objects
from nova_ha.reports import availability

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
