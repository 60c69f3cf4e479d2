"""An incident's timeline rows: incidents of the earlier recovery flow
from hand-made steps; incidents of the engine from the records its own
writer puts into a real SQLite history."""

import datetime
import os
import tempfile
import unittest

from nova_ha.history import objects
from nova_ha.history import store as history_store
from nova_ha.reports import source
from nova_ha.reports import timeline
from tests.unit.reports import engine_history

UTC = datetime.timezone.utc
T0 = datetime.datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def at(seconds):
    return T0 + datetime.timedelta(seconds=seconds)


def step(name, start, end, status='done', detail=None):
    return objects.Step(name=name, status=status, started_at=at(start),
                        updated_at=at(end), detail=detail)


class TestIncidentTimeline(unittest.TestCase):

    def test_rows_offsets_and_durations(self):
        incident = objects.Incident(
            key='host_failure:c1:%s' % at(0).isoformat(),
            kind='host_failure', host='c1', instance=None, state='done',
            opened_at=at(1.25), updated_at=at(20), closed_at=at(20),
            detail={'moved': 1, 'failed': []})
        steps = {s.name: s for s in (
            step('fence', 1.5, 2.25, detail={'outcome': 'fenced',
                                             'driver': 'ipmi',
                                             'password': '***'}),
            step('plan', 3, 3.5, detail={'vms': [
                {'id': 'u1', 'name': 'web', 'priority': 5,
                 'status': 'ACTIVE'}]}),
            step('evacuate:u1', 4, 14.5, detail={'target': 'spare',
                                                 'status': 'ACTIVE',
                                                 'elapsed_s': 10.5}),
            step('evacuate:u2', 4.5, 6, status='failed',
                 detail={'error': 'no valid host'}),
            step('reserved', 15, 16, detail={'released': ['spare']}))}
        rows = timeline.incident_timeline(incident, steps)
        self.assertEqual(
            [('detection', 0.0, 1.25), ('fence', 1.5, 0.75),
             ('plan', 3.0, 0.5), ('evacuate:u1', 4.0, 10.5),
             ('evacuate:u2', 4.5, 1.5), ('reserved', 15.0, 1.0),
             ('total', 0.0, 20.0)],
            [(r.step, r.at_s, r.duration_s) for r in rows])
        by_step = {r.step: r for r in rows}
        self.assertEqual('evacuate web', by_step['evacuate:u1'].label)
        self.assertEqual('u1', by_step['evacuate:u1'].instance)
        self.assertEqual('-> spare, ACTIVE', by_step['evacuate:u1'].detail)
        self.assertEqual('error: no valid host',
                         by_step['evacuate:u2'].detail)
        self.assertEqual('fenced ipmi', by_step['fence'].detail)
        self.assertEqual('1 VM(s): web(5)', by_step['plan'].detail)
        self.assertEqual('released: spare', by_step['reserved'].detail)
        self.assertEqual('done', by_step['total'].status)

    def test_running_steps_and_open_incidents_have_no_end(self):
        incident = objects.Incident(
            key='process_failure:c1', kind='process_failure', host='c1',
            instance=None, state='recovering', opened_at=at(0),
            updated_at=at(3), detail=None)
        rows = timeline.incident_timeline(
            incident, {'fence': step('fence', 1, 3, status='started')})
        # No report time is known: no detection row; offsets from opening.
        self.assertEqual([('fence', 1.0, None, None),
                          ('total', 0.0, None, None)],
                         [(r.step, r.at_s, r.end, r.duration_s)
                          for r in rows])


class EngineTimelineTest(unittest.TestCase):
    """Incidents of the engine: no steps; written by its own writer into a
    real SQLite history (see engine_history)."""

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.store = history_store.HistoryStore(
            'sqlite:///' + os.path.join(tmp.name, 'history.sqlite'))
        self.addCleanup(self.store.close)
        self.store.upgrade()
        self.history = engine_history.EngineHistory(self, self.store, T0)

    def timeline(self, key):
        incident = self.store.get_incident(key)
        steps, records = source.timeline_inputs(self.store, incident)
        self.assertEqual({}, steps)
        return incident, timeline.incident_timeline(incident, steps,
                                                    records)

    def test_states_fence_force_down_moves_and_disable(self):
        h = self.history
        key = h.until_evacuating('c1', [('u-web', 'web', 'ACTIVE'),
                                        ('u-db', 'db', 'ACTIVE')])
        h.requested(7, 'u-web')
        h.requested(7.2, 'u-db')
        h.moved(30, 'u-web')
        h.moved(60, 'u-db', target='spare2')
        h.close(62, disabled_at=61)
        incident, rows = self.timeline(key)
        self.assertEqual(
            [('detection', 0.0, 2.0), ('detected', 0.0, 0.5),
             ('confirming', 0.5, 1.5), ('fencing', 2.0, 2.5),
             ('fence', 2.0, 2.5), ('fenced', 4.5, 1.5),
             ('force_down', 4.5, 0.5), ('evacuating', 6.0, 56.0),
             ('evacuate:u-web', 7.0, 23.0), ('evacuate:u-db', 7.2, 52.8),
             ('disable', 60.0, 1.0), ('total', 0.0, 62.0)],
            [(r.step, r.at_s, r.duration_s) for r in rows])
        by_step = {r.step: r for r in rows}
        self.assertEqual('host seen dead -> fencing',
                         by_step['detection'].label)
        self.assertEqual('liveness lost, reported down',
                         by_step['detection'].detail)
        self.assertEqual('asking a second channel',
                         by_step['confirming'].detail)
        self.assertEqual('fenced ipmi powered off', by_step['fence'].detail)
        self.assertEqual('evacuate db', by_step['evacuate:u-db'].label)
        self.assertEqual('u-db', by_step['evacuate:u-db'].instance)
        self.assertEqual('-> spare2, ACTIVE', by_step['evacuate:u-db'].detail)
        self.assertEqual({'done'}, {r.status for r in rows[:-1]})
        self.assertEqual(('recovered', T0 + datetime.timedelta(seconds=62)),
                         (by_step['total'].status, by_step['total'].end))
        self.assertEqual('2 VMs moved, 0 failed; c1 stays disabled',
                         by_step['total'].detail)
        self.assertEqual({'u-web': 'web', 'u-db': 'db'},
                         timeline.vm_names({}, incident))

    def test_an_open_incident_with_moves_running_failed_and_gone(self):
        h = self.history
        key = h.until_evacuating('c1', [('u-run', 'run', 'ACTIVE'),
                                        ('u-bad', 'bad', 'ACTIVE'),
                                        ('u-del', 'del', 'SHUTOFF'),
                                        ('u-two', 'two', 'ACTIVE')])
        h.requested(7, 'u-run')
        h.requested(7, 'u-bad')
        h.failed(20, 'u-bad')
        h.gone(8, 'u-del')      # deleted before any request
        h.requested(7, 'u-two')
        h.requested(25, 'u-two')
        h.note(26, 'power', 'restoring two to ACTIVE', instance='u-two')
        h.moved(40, 'u-two')
        _incident, rows = self.timeline(key)
        by_step = {r.step: r for r in rows}
        self.assertEqual((7.0, None, None, 'started'), (
            by_step['evacuate:u-run'].at_s, by_step['evacuate:u-run'].end,
            by_step['evacuate:u-run'].duration_s,
            by_step['evacuate:u-run'].status))
        self.assertEqual(('failed', 13.0, 'error: no valid host'), (
            by_step['evacuate:u-bad'].status,
            by_step['evacuate:u-bad'].duration_s,
            by_step['evacuate:u-bad'].detail))
        # Never requested: from the start of evacuating to its outcome.
        self.assertEqual(('gone', 6.0, 2.0, 'deleted'), (
            by_step['evacuate:u-del'].status, by_step['evacuate:u-del'].at_s,
            by_step['evacuate:u-del'].duration_s,
            by_step['evacuate:u-del'].detail))
        self.assertEqual(
            ('done', 7.0, 33.0, '-> spare, ACTIVE, 2 requests, '
             'power restored'),
            (by_step['evacuate:u-two'].status, by_step['evacuate:u-two'].at_s,
             by_step['evacuate:u-two'].duration_s,
             by_step['evacuate:u-two'].detail))
        # The state it is in, and the whole, still run.
        self.assertEqual(('started', None), (by_step['evacuating'].status,
                                             by_step['evacuating'].end))
        self.assertEqual(('evacuating', None, None), (
            by_step['total'].status, by_step['total'].end,
            by_step['total'].duration_s))
        self.assertEqual('total', rows[-1].step)

    def test_parked_then_closed_by_an_operator(self):
        h = self.history
        key = h.open('c1')
        h.move(0.5, 'confirming', 'asking a second channel')
        h.move(30, 'parked', 'no proof of power-off can be had (R3)')
        h.now = h.at(90)
        self.store.operator_request(key, 'close', who='ops',
                                    reason='host replaced')
        _incident, rows = self.timeline(key)
        self.assertEqual(
            [('detection', 0.0, 30.0), ('detected', 0.0, 0.5),
             ('confirming', 0.5, 29.5), ('parked', 30.0, 60.0),
             ('total', 0.0, 90.0)],
            [(r.step, r.at_s, r.duration_s) for r in rows])
        self.assertEqual('host seen dead -> parked', rows[0].label)
        self.assertEqual(('closed', 'operator ops closed the incident: '
                          'host replaced'),
                         (rows[-1].status, rows[-1].detail))

    def test_held_twice_and_a_failed_fence_attempt(self):
        h = self.history
        key = h.open('c1')
        h.move(0.5, 'held', 'waiting 1.0 s for other failures')
        h.move(1, 'held', 'storm guard: 2 of 3 hosts of seg-a')
        h.move(10, 'fencing', 'guards passed', fence_attempt=1)
        # Without the driver's elapsed time: from entering fencing.
        h.note(12, 'fence', 'fencing c1 (attempt 1): failed: BMC silent',
               outcome='failed')
        _incident, rows = self.timeline(key)
        self.assertEqual(
            [('detection', 0.0, 10.0, 'done'),
             ('detected', 0.0, 0.5, 'done'), ('held', 0.5, 0.5, 'done'),
             ('held', 1.0, 9.0, 'done'), ('fencing', 10.0, None, 'started'),
             ('fence', 10.0, 2.0, 'failed'),
             ('total', 0.0, None, 'fencing')],
            [(r.step, r.at_s, r.duration_s, r.status) for r in rows])
        self.assertEqual('storm guard: 2 of 3 hosts of seg-a',
                         rows[3].detail)

    def test_force_down_recorded_after_evacuating_began(self):
        # The engine saw the service forced down in Nova, and moved on,
        # before it took in Nova's answer to its request.
        h = self.history
        key = h.until_evacuating('c1', [('u-web', 'web', 'ACTIVE')],
                                 forced_down=None)
        h.forced_down(6.8)
        _incident, rows = self.timeline(key)
        self.assertEqual([('force_down', 4.5, 1.5)],
                         [(r.step, r.at_s, r.duration_s) for r in rows
                          if r.step == 'force_down'])

    def test_a_lost_final_record(self):
        # The history stopped answering after the incident's last save
        # and before its records: the last state ends at the close.
        h = self.history
        key = h.until_evacuating('c1', [('u-web', 'web', 'ACTIVE')])
        h.moved(30, 'u-web')
        h.now = h.at(40)
        self.assertTrue(self.store.save_incident(
            key, generation=1, state='recovered', detail=dict(
                h.incident.facts)))
        _incident, rows = self.timeline(key)
        self.assertEqual([('evacuating', 6.0, 34.0, 'done'),
                          ('total', 0.0, 40.0, 'recovered')],
                         [(r.step, r.at_s, r.duration_s, r.status)
                          for r in rows if r.step in ('evacuating',
                                                      'total')])
        # Without the reason, the outcomes.
        self.assertEqual('done=1', rows[-1].detail)

    def test_steps_make_it_an_incident_of_the_earlier_flow(self):
        # Records alone (no transition) do not make an engine incident.
        incident = objects.Incident(
            key='process_failure:c1', kind='process_failure', host='c1',
            instance=None, state='recovering', opened_at=at(0),
            updated_at=at(3), detail=None)
        rows = timeline.incident_timeline(
            incident, {'fence': step('fence', 1, 3, status='started')},
            [objects.HistoryRecord(id=1, at=at(2), kind='transition',
                                   message='x', outcome='fenced')])
        self.assertEqual(['fence', 'total'], [r.step for r in rows])
