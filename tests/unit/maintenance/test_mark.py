"""The maintenance mark's pure parts, and the contract with the readers of
the mark (nova_ha.model, which the filters and the engine use)."""

import collections
import os
import tempfile
import unittest

from nova_ha.maintenance import mark
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.maintenance import locks as ha_locks

Aggregate = collections.namedtuple('Aggregate', 'name hosts metadata')
Incident = collections.namedtuple('Incident', 'key kind state')
MaintenanceAggregate = collections.namedtuple(
    'MaintenanceAggregate', 'id name hosts metadata')


def service(status='enabled', reason=None):
    return {'status': status, 'disabled_reason': reason}


class TestMark(unittest.TestCase):

    def test_reason_is_what_the_engine_reads_as_maintenance(self):
        # The engine (nova_ha.model.aggregates) treats a compute service
        # disabled with a reason starting 'nova-ha:maintenance' as in
        # maintenance.
        self.assertEqual('nova-ha:maintenance', mark.service_reason())
        self.assertEqual('nova-ha:maintenance: BIOS update',
                         mark.service_reason('BIOS update'))
        self.assertEqual(255, len(mark.service_reason('x' * 400)))

    def test_only_our_reason_counts_as_disabled_by_maintenance(self):
        self.assertTrue(mark.disabled_by_maintenance(
            service('disabled', 'nova-ha:maintenance: BIOS')))
        self.assertFalse(mark.disabled_by_maintenance(
            service('disabled', 'nova-ha: host failed, fenced and '
                    'evacuated')))
        self.assertFalse(mark.disabled_by_maintenance(
            service('disabled', None)))
        self.assertFalse(mark.disabled_by_maintenance(
            service('enabled', 'nova-ha:maintenance')))
        self.assertFalse(mark.disabled_by_maintenance(None))

    def test_open_incidents_refuse_with_what_and_where_to_look(self):
        self.assertIsNone(mark.refusal('c1', []))
        text = mark.refusal('c1', [Incident('host_failure:c1:t',
                                            'host_failure', 'recovering')])
        self.assertIn('host_failure:c1:t (host_failure, state recovering)',
                      text)
        self.assertIn('nova-ha history incidents --open --host c1', text)

    def test_maintenance_aggregate_takes_the_host_out_of_reserve(self):
        # The aggregate "maintenance enter" creates, beside the segment and
        # reserved aggregates: the model (hence the filters and the engine)
        # sees maintenance and no reserved capacity.
        aggregates = [
            Aggregate('seg-a', ('a1', 'spare'),
                      {ha_aggregates.SEGMENT_KEY: 'seg-a'}),
            Aggregate('ha-reserved', ('spare',),
                      {ha_aggregates.RESERVED_KEY: 'true'}),
            Aggregate('ha-maintenance', ('spare',),
                      {ha_aggregates.MAINTENANCE_KEY: 'true'})]
        self.assertTrue(mark.in_maintenance(aggregates, 'spare', None))
        self.assertFalse(mark.in_maintenance(aggregates, 'a1', None))
        self.assertTrue(mark.in_maintenance(
            aggregates, 'a1', service('disabled', 'nova-ha:maintenance')))
        view = ha_aggregates.host_view(aggregates)
        self.assertEqual((True, False, 'seg-a'), (
            view.maintenance, view.reserved, view.segment_name))


class NovaAsksForTheLock:
    """Nova's part of setting the mark, played by a stand-in that checks,
    at each write, that the engine could not start a recovery of the host
    now (its host lock is taken).  A real Nova cannot observe a lock held
    by its client; the mark's writes against the in-process Nova are in
    tests/functional/maintenance."""

    def __init__(self, engine_locks, test):
        self.engine_locks = engine_locks
        self.test = test
        self.writes = []

    def _lock_is_held(self, what):
        lock = self.engine_locks.try_lock('host-c1')
        if lock is not None:
            lock.release()
        self.test.assertIsNone(lock, '%s while the host lock was free'
                               % what)
        self.writes.append(what)

    def service(self, host):
        return {'status': 'enabled', 'disabled_reason': None,
                'state': 'up', 'forced_down': False}

    def maintenance_aggregate(self, name, create=False):
        return MaintenanceAggregate('7', name, (), {
            ha_aggregates.MAINTENANCE_KEY: 'true'})

    def add_host_to_aggregate(self, aggregate_id, host):
        self._lock_is_held('add %s to the aggregate' % host)

    def disable(self, host, reason):
        self._lock_is_held('disable %s (%s)' % (host, reason))


class TestMarkUnderTheHostLock(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        url = 'file://' + os.path.join(tmp.name, 'locks')
        self.cli_locks = ha_locks.ToozLocks(url, member_id='cli')
        self.engine_locks = ha_locks.ToozLocks(url, member_id='engine')
        self.addCleanup(self.cli_locks.stop)
        self.addCleanup(self.engine_locks.stop)

    def test_the_mark_is_written_under_the_engines_host_lock(self):
        nova = NovaAsksForTheLock(self.engine_locks, self)
        report = mark.MaintenanceMark(nova, 'ha-maintenance').enter(
            'c1', self.cli_locks, lambda host: [], note='disk swap')
        self.assertEqual(['add c1 to the aggregate',
                          'disable c1 (nova-ha:maintenance: disk swap)'],
                         nova.writes)
        self.assertEqual(('added to aggregate ha-maintenance',
                          'compute service disabled'), report.changes)
        # Released afterwards: the engine's guard takes over.
        lock = self.engine_locks.try_lock('host-c1')
        self.assertIsNotNone(lock)
        lock.release()

    def test_nothing_is_written_while_an_incident_is_open(self):
        nova = NovaAsksForTheLock(self.engine_locks, self)
        incident = Incident('host_failure:c1:t', 'host_failure',
                            'recovering')
        with self.assertRaises(mark.MaintenanceRefused):
            mark.MaintenanceMark(nova, 'ha-maintenance').enter(
                'c1', self.cli_locks, lambda host: [incident])
        self.assertEqual([], nova.writes)
