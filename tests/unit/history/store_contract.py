"""The HistoryStore contract, one suite for every database backend.

A subclass provides ``make_url()`` (a fresh, empty database per test class
is fine: ``setUp`` empties the tables).  Run on SQLite by the unit tests and
on PostgreSQL and MariaDB by tests/integration/history.
"""

import datetime
import threading

from alembic import autogenerate
from alembic.runtime import migration as alembic_migration
import sqlalchemy as sa

from nova_ha.history import migration
from nova_ha.history import models
from nova_ha.history import store as history_store

UTC = datetime.timezone.utc
T0 = datetime.datetime(2025, 5, 1, 10, 0, 0, 123456, tzinfo=UTC)


def minutes(n):
    return T0 + datetime.timedelta(minutes=n)


class StoreContract:
    """Mixed into a unittest.TestCase with ``make_url()``."""

    def make_url(self):
        raise NotImplementedError

    def setUp(self):
        super().setUp()
        self.url = self.make_url()
        self.store = history_store.HistoryStore(self.url)
        self.addCleanup(self.store.close)
        self.store.upgrade()
        with self.store._engine.begin() as connection:
            for table in reversed(models.metadata.sorted_tables):
                connection.execute(table.delete())

    def new_store(self):
        """Another store on the same database: another engine process."""
        other = history_store.HistoryStore(self.url)
        self.addCleanup(other.close)
        return other

    # -- schema ---------------------------------------------------------

    def test_migrations_reach_head_and_match_the_models(self):
        self.assertEqual(migration.head_revision(),
                         self.store.schema_revision())
        with self.store._engine.connect() as connection:
            context = alembic_migration.MigrationContext.configure(
                connection,
                opts={'version_table': migration.VERSION_TABLE,
                      'compare_type': True})
            diffs = autogenerate.compare_metadata(context, models.metadata)
        self.assertEqual([], diffs)

    def test_upgrade_twice_is_harmless(self):
        self.store.record('alert', 'kept')
        self.store.upgrade()
        self.assertEqual(['kept'],
                         [r.message for r in self.store.query()])

    # -- records --------------------------------------------------------

    def test_record_round_trip(self):
        record_id = self.store.record(
            'evacuate', 'moved vm-1 to c2', host='c1',
            instance='0b1c-uuid', segment='seg-a', outcome='done',
            incident='host:c1', detail={'target': 'c2', 'tries': 1},
            at=T0)
        (record,) = self.store.query()
        self.assertEqual(record_id, record.id)
        self.assertEqual(T0, record.at)
        self.assertEqual(0, record.at.utcoffset().total_seconds())
        self.assertEqual(
            ('evacuate', 'moved vm-1 to c2', 'c1', '0b1c-uuid', 'seg-a',
             'done', 'host:c1', {'target': 'c2', 'tries': 1}),
            (record.kind, record.message, record.host, record.instance,
             record.segment, record.outcome, record.incident,
             record.detail))
        as_dict = record.to_dict()
        self.assertEqual('2025-05-01T10:00:00.123456+00:00', as_dict['at'])
        self.assertEqual({'target': 'c2', 'tries': 1}, as_dict['detail'])

    def test_timestamps_default_to_now_utc_with_microseconds(self):
        before = datetime.datetime.now(UTC)
        self.store.record('alert', 'a')
        after = datetime.datetime.now(UTC)
        (record,) = self.store.query()
        self.assertLessEqual(before, record.at)
        self.assertLessEqual(record.at, after)

    def test_aware_times_are_stored_as_utc(self):
        paris = datetime.timezone(datetime.timedelta(hours=2))
        self.store.record('alert', 'a', at=T0.astimezone(paris))
        self.assertEqual(T0, self.store.query()[0].at)

    def test_query_filters(self):
        self.store.record('event.received', 'e1', host='c1', at=minutes(0))
        self.store.record('event.rejected', 'e2', host='c2', at=minutes(1))
        self.store.record('decision', 'd1', host='c1', incident='host:c1',
                          at=minutes(2))
        self.store.record('evacuate', 'v1', host='c1', instance='vm-1',
                          incident='host:c1', at=minutes(3))
        self.store.record('eventual', 'x', host='c3', at=minutes(4))

        def messages(**filters):
            return [r.message for r in self.store.query(**filters)]

        self.assertEqual(['e1', 'e2', 'd1', 'v1', 'x'], messages())
        self.assertEqual(['e1', 'd1', 'v1'], messages(host='c1'))
        self.assertEqual(['v1'], messages(instance='vm-1'))
        self.assertEqual(['e1', 'e2'], messages(kind='event'))
        self.assertEqual(['e2'], messages(kind='event.rejected'))
        self.assertEqual(['d1', 'v1'], messages(incident='host:c1'))
        self.assertEqual(['d1', 'v1', 'x'], messages(since=minutes(2)))
        self.assertEqual(['e1', 'e2'], messages(until=minutes(2)))
        self.assertEqual(['e2', 'd1'],
                         messages(since=minutes(1), until=minutes(3)))
        self.assertEqual(['d1', 'v1'], messages(host='c1', since=minutes(1)))
        self.assertEqual([], messages(host='nowhere'))

    def test_limit_keeps_the_newest_oldest_first(self):
        for n in range(5):
            self.store.record('alert', 'a%d' % n, at=minutes(n))
        self.assertEqual(['a3', 'a4'],
                         [r.message for r in self.store.query(limit=2)])

    def test_kind_filter_is_not_a_like_pattern(self):
        self.store.record('force_down', 'f')
        self.store.record('forceXdown', 'g')
        self.assertEqual(['f'], [r.message for r in
                                 self.store.query(kind='force_down')])

    def test_secrets_never_reach_the_database(self):
        self.store.record(
            'fence', 'ipmi login password=hunter2 user=admin',
            detail={'address': '10.0.0.5', 'password': 'hunter2',
                    'driver': {'Auth_Token': 'tok', 'nested': [
                        {'os_passwd': 'p2', 'port': 623}]},
                    'credentials': {'user': 'u', 'pass': 'p'},
                    'cmd': 'ipmitool -P hunter2 power off'})
        (record,) = self.store.query()
        self.assertEqual('ipmi login password=*** user=admin',
                         record.message)
        self.assertEqual({'address': '10.0.0.5', 'password': '***',
                          'driver': {'Auth_Token': '***', 'nested': [
                              {'os_passwd': '***', 'port': 623}]},
                          'credentials': '***',
                          'cmd': 'ipmitool -P *** power off'},
                         record.detail)
        with self.store._engine.connect() as connection:
            raw = ' '.join(str(value) for row in connection.execute(
                sa.select(models.records)) for value in row)
        self.assertNotIn('hunter2', raw)
        self.assertNotIn('tok', raw)

    def test_bad_input_is_refused_clearly(self):
        with self.assertRaisesRegex(ValueError, 'kind'):
            self.store.record('', 'no kind')
        with self.assertRaisesRegex(ValueError, 'limit'):
            self.store.query(limit=0)

    # -- incidents ------------------------------------------------------

    def test_open_incident_is_idempotent(self):
        first, created = self.store.open_incident(
            'host:c1', 'host', host='c1', detail={'why': 'heartbeat lost'})
        self.assertTrue(created)
        self.assertTrue(first.is_open)
        self.assertEqual('open', first.state)
        again, created = self.new_store().open_incident(
            'host:c1', 'host', host='c1', detail={'why': 'other'})
        self.assertFalse(created)
        self.assertEqual(first, again)
        self.assertEqual({'why': 'heartbeat lost'}, again.detail)
        self.assertEqual(first, self.store.get_incident('host:c1'))
        self.assertIsNone(self.store.get_incident('host:c9'))

    def test_closed_states_set_closed_at(self):
        for state in ('done', 'failed', 'aborted'):
            key = 'host:' + state
            self.store.open_incident(key, 'host', host=state)
            self.store.update_incident(key, state='fencing')
            self.assertTrue(self.store.get_incident(key).is_open)
            self.store.update_incident(key, state=state,
                                       detail={'end': state})
            incident = self.store.get_incident(key)
            self.assertEqual(state, incident.state)
            self.assertFalse(incident.is_open)
            self.assertIsNotNone(incident.closed_at)
            self.assertEqual({'end': state}, incident.detail)
            self.assertGreaterEqual(incident.closed_at, incident.opened_at)

    def test_update_keeps_detail_unless_given_and_reopens(self):
        self.store.open_incident('vm:1', 'instance', instance='1',
                                 detail={'a': 1})
        self.store.update_incident('vm:1', state='done')
        closed = self.store.get_incident('vm:1')
        self.store.update_incident('vm:1', state='failed')
        self.assertEqual(closed.closed_at,
                         self.store.get_incident('vm:1').closed_at)
        self.store.update_incident('vm:1', state='restarting')
        reopened = self.store.get_incident('vm:1')
        self.assertTrue(reopened.is_open)
        self.assertEqual({'a': 1}, reopened.detail)

    def test_unknown_incident(self):
        with self.assertRaises(history_store.UnknownIncident):
            self.store.update_incident('nope', state='done')
        with self.assertRaises(KeyError):
            self.store.mark_step('nope', 'fence', 'done')
        self.assertEqual({}, self.store.steps('nope'))

    def test_list_incidents(self):
        self.store.open_incident('host:c1', 'host', host='c1')
        self.store.open_incident('vm:1', 'instance', host='c2',
                                 instance='1')
        self.store.open_incident('host:c2', 'host', host='c2')
        self.store.update_incident('host:c1', state='done')

        def keys(**filters):
            return [i.key for i in self.store.list_incidents(**filters)]

        self.assertEqual(['host:c1', 'vm:1', 'host:c2'], keys())
        self.assertEqual(['vm:1', 'host:c2'], keys(open_only=True))
        self.assertEqual(['vm:1', 'host:c2'], keys(host='c2'))
        self.assertEqual(['host:c1', 'host:c2'], keys(kind='host'))
        self.assertEqual(['host:c2'], keys(kind='host', open_only=True))

    def test_steps_are_created_then_overwritten(self):
        self.store.open_incident('host:c1', 'host', host='c1')
        opened = self.store.get_incident('host:c1')
        self.store.mark_step('host:c1', 'fence', 'started')
        self.store.mark_step('host:c1', 'evacuate:vm-1', 'started',
                             {'target': None})
        started = self.store.steps('host:c1')['fence']
        self.new_store().mark_step('host:c1', 'fence', 'done',
                                   {'power': 'off', 'password': 'x'})
        steps = self.store.steps('host:c1')
        self.assertEqual(['fence', 'evacuate:vm-1'], list(steps))
        fence = steps['fence']
        self.assertEqual('done', fence.status)
        self.assertEqual({'power': 'off', 'password': '***'}, fence.detail)
        self.assertEqual(started.started_at, fence.started_at)
        self.assertGreaterEqual(fence.updated_at, started.updated_at)
        self.assertEqual('started', steps['evacuate:vm-1'].status)
        self.assertGreaterEqual(
            self.store.get_incident('host:c1').updated_at,
            opened.updated_at)
        self.store.mark_step('host:c1', 'fence', 'failed')
        self.assertIsNone(self.store.steps('host:c1')['fence'].detail)

    def test_steps_belong_to_their_incident(self):
        self.store.open_incident('host:c1', 'host', host='c1')
        self.store.open_incident('host:c2', 'host', host='c2')
        self.store.mark_step('host:c1', 'fence', 'done')
        self.assertEqual({}, self.store.steps('host:c2'))

    def test_concurrent_open_incident_has_one_winner(self):
        """Several engines (one store, engine and pool each) race to open
        the same incident: exactly one creates it."""
        racers = 6
        stores = [self.new_store() for _ in range(racers)]
        for store in stores:  # connect first, so the race is the insert
            store.get_incident('warm-up')
        barrier = threading.Barrier(racers, timeout=30)
        results, errors = [], []

        def race(store):
            try:
                barrier.wait()
                results.append(store.open_incident(
                    'host:race', 'host', host='race'))
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(store,))
                   for store in stores]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(racers, len(results))
        self.assertEqual(1, sum(created for _, created in results))
        self.assertEqual(1, len({(incident.key, incident.opened_at)
                                 for incident, _ in results}))
        self.assertEqual(1, len(self.store.list_incidents()))

    def test_threads_of_one_engine_write_at_once_without_loss(self):
        """An engine's evacuation threads mark their steps at the same
        moment: every mark lands, none fails on a busy database."""
        self.store.open_incident('host:busy', 'host', host='busy')
        threads_n, marks = 8, 15
        barrier = threading.Barrier(threads_n, timeout=30)
        errors = []

        def mark(n):
            try:
                barrier.wait()
                for i in range(marks):
                    self.store.mark_step('host:busy', 'evacuate:%d-%d' % (
                        n, i), 'started')
                    self.store.record('evacuate', 'vm %d-%d' % (n, i),
                                      host='busy', incident='host:busy')
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=mark, args=(n,))
                   for n in range(threads_n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(threads_n * marks,
                         len(self.store.steps('host:busy')))
        self.assertEqual(threads_n * marks,
                         len(self.store.query(kind='evacuate')))
