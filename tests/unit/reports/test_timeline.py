"""An incident's timeline rows from hand-made steps (pure)."""

import datetime
import unittest

from nova_ha.history import objects
from nova_ha.reports import timeline

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
