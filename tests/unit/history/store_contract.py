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

    # -- ownership (fencing tokens) ---------------------------------------

    def test_0002_gives_existing_rows_generation_0(self):
        """An incident and a record written under revision 0001 survive the
        upgrade: no owner, generation 0, no operator request, no token."""
        with self.store._engine.begin() as connection:
            models.metadata.drop_all(connection)
            connection.execute(sa.text('DROP TABLE %s'
                                       % migration.VERSION_TABLE))
        # The tables as revision 0001 made them (without the new columns).
        old_incidents = sa.table(
            'history_incidents', sa.column('key'), sa.column('kind'),
            sa.column('host'), sa.column('state'), sa.column('opened_at'),
            sa.column('updated_at'))
        old_records = sa.table('history_records', sa.column('at'),
                               sa.column('kind'), sa.column('message'))
        naive = T0.replace(tzinfo=None)
        with self.store._engine.begin() as connection:
            migration.upgrade(connection, '0001')
            connection.execute(old_incidents.insert().values(
                key='host:old', kind='host', host='c1', state='recovering',
                opened_at=naive, updated_at=naive))
            connection.execute(old_records.insert().values(
                at=naive, kind='alert', message='old'))
        self.assertEqual('0001', self.store.schema_revision())
        self.store.upgrade()
        self.assertEqual(migration.head_revision(),
                         self.store.schema_revision())
        incident = self.store.get_incident('host:old')
        self.assertEqual((None, 0, None, 'recovering'),
                         (incident.owner, incident.generation,
                          incident.operator, incident.state))
        self.assertIsNone(self.store.query()[0].token)
        self.assertEqual(1, self.store.claim_incident('host:old', 'e1', 0))

    def test_open_incident_stores_owner_and_generation(self):
        plain, _ = self.store.open_incident('host:c1', 'host', host='c1')
        self.assertEqual((None, 0, None),
                         (plain.owner, plain.generation, plain.operator))
        owned, _ = self.store.open_incident('host:c2', 'host', host='c2',
                                            owner='engine-a', generation=1)
        self.assertEqual(('engine-a', 1), (owned.owner, owned.generation))
        again, created = self.new_store().open_incident(
            'host:c2', 'host', owner='engine-b', generation=7)
        self.assertFalse(created)
        self.assertEqual(('engine-a', 1), (again.owner, again.generation))
        self.assertEqual('engine-a', again.to_dict()['owner'])
        with self.assertRaisesRegex(ValueError, 'generation'):
            self.store.open_incident('host:c3', 'host', generation=-1)

    def test_claim_is_a_compare_and_set_on_the_generation(self):
        self.store.open_incident('host:c1', 'host', host='c1',
                                 owner='engine-a')
        self.assertEqual(1, self.store.claim_incident('host:c1', 'engine-b',
                                                      0))
        # engine-c read generation 0 too, before engine-b's claim: it lost.
        self.assertIsNone(self.new_store().claim_incident(
            'host:c1', 'engine-c', 0))
        incident = self.store.get_incident('host:c1')
        self.assertEqual(('engine-b', 1), (incident.owner,
                                           incident.generation))
        self.assertEqual(2, self.store.claim_incident('host:c1', 'engine-c',
                                                      1))
        self.assertEqual(('engine-c', 2),
                         (self.store.get_incident('host:c1').owner,
                          self.store.get_incident('host:c1').generation))
        # a claim from the future is no claim either
        self.assertIsNone(self.store.claim_incident('host:c1', 'engine-a',
                                                    5))
        with self.assertRaises(history_store.UnknownIncident):
            self.store.claim_incident('host:nope', 'engine-a', 0)
        with self.assertRaisesRegex(ValueError, 'owner'):
            self.store.claim_incident('host:c1', '', 2)

    def test_concurrent_claims_have_exactly_one_winner(self):
        """Engines that all read generation 3 claim the incident at the
        same moment: exactly one gets generation 4, the others None."""
        self.store.open_incident('host:race', 'host', host='race',
                                 owner='dead-engine', generation=3)
        racers = 6
        stores = [self.new_store() for _ in range(racers)]
        for store in stores:  # connect first, so the race is the update
            store.get_incident('warm-up')
        barrier = threading.Barrier(racers, timeout=30)
        results, errors = {}, []

        def race(n, store):
            try:
                barrier.wait()
                results['engine-%d' % n] = store.claim_incident(
                    'host:race', 'engine-%d' % n, 3)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=race, args=(n, store))
                   for n, store in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(racers, len(results))
        winners = [owner for owner, got in results.items() if got is not None]
        self.assertEqual(1, len(winners), results)
        self.assertEqual(4, results[winners[0]])
        incident = self.store.get_incident('host:race')
        self.assertEqual((winners[0], 4), (incident.owner,
                                           incident.generation))

    def test_save_incident_writes_its_records_in_the_same_transaction(self):
        # The lab's engine scenario: the owner was killed between the
        # write of state "fenced" and the write of the records saying how
        # (the fence and the transition); the survivor then evacuated from
        # a history without the fence proof.  State and records go
        # together, or not at all.
        self.store.open_incident('host:c1', 'host', host='c1')
        gen = self.store.claim_incident('host:c1', 'engine-a', 0)
        records = [
            {'kind': 'fence', 'message': 'fencing c1: already_off',
             'host': 'c1', 'token': gen, 'outcome': 'already_off'},
            {'kind': 'transition', 'message': 'c1 fencing -> fenced: off',
             'host': 'c1', 'token': gen, 'outcome': 'fenced'}]
        self.assertTrue(self.store.save_incident(
            'host:c1', generation=gen, state='fenced', records=records))
        got = self.store.query(incident='host:c1')
        self.assertEqual([('fence', 'already_off', gen),
                          ('transition', 'fenced', gen)],
                         [(r.kind, r.outcome, r.token) for r in got])
        stale = self.new_store()
        stale.claim_incident('host:c1', 'engine-b', gen)
        self.assertFalse(self.store.save_incident(
            'host:c1', generation=gen, state='evacuating',
            records=[{'kind': 'transition', 'message': 'stale',
                      'host': 'c1', 'token': gen}]))
        self.assertEqual(2, len(self.store.query(incident='host:c1')))
        with self.assertRaises(ValueError):
            self.store.save_incident(
                'host:c1', generation=gen + 1, state='fenced',
                records=[{'kind': '', 'message': 'no kind'}])
        self.assertEqual('fenced', self.store.get_incident('host:c1').state)

    def test_save_incident_refuses_a_stale_owner(self):
        self.store.open_incident('host:c1', 'host', host='c1',
                                 detail={'v': 0})
        old = self.store.claim_incident('host:c1', 'engine-a', 0)
        new = self.new_store().claim_incident('host:c1', 'engine-b', old)
        before = self.store.get_incident('host:c1')
        self.assertFalse(self.store.save_incident(
            'host:c1', generation=old, state='done', detail={'v': 'stale'}))
        self.assertEqual(before, self.store.get_incident('host:c1'))

        self.assertTrue(self.store.save_incident(
            'host:c1', generation=new, state='recovering'))
        incident = self.store.get_incident('host:c1')
        self.assertEqual(('recovering', {'v': 0}, new),
                         (incident.state, incident.detail,
                          incident.generation))
        self.assertTrue(incident.is_open)
        self.assertTrue(self.store.save_incident(
            'host:c1', generation=new, state='done', detail={'v': 1}))
        done = self.store.get_incident('host:c1')
        self.assertEqual(('done', {'v': 1}), (done.state, done.detail))
        self.assertIsNotNone(done.closed_at)
        self.assertTrue(self.store.save_incident(
            'host:c1', generation=new, state='failed'))
        self.assertEqual(done.closed_at,
                         self.store.get_incident('host:c1').closed_at)
        self.assertTrue(self.store.save_incident(
            'host:c1', generation=new, state='recovering'))
        self.assertTrue(self.store.get_incident('host:c1').is_open)
        with self.assertRaises(history_store.UnknownIncident):
            self.store.save_incident('host:nope', generation=0,
                                     state='done')

    def test_save_incident_cannot_reopen_what_an_operator_closed(self):
        self.store.open_incident('host:c1', 'host', host='c1',
                                 owner='engine-a', generation=1)
        self.store.operator_request('host:c1', 'close', who='alice',
                                    reason='handled by hand')
        self.assertFalse(self.store.save_incident(
            'host:c1', generation=1, state='recovering'))
        incident = self.store.get_incident('host:c1')
        self.assertEqual('closed', incident.state)
        self.assertFalse(incident.is_open)

    def test_records_carry_the_fencing_token(self):
        self.store.record('fence', 'by the owner', incident='host:c1',
                          token=4)
        self.store.record('alert', 'no token')
        self.assertEqual([4, None],
                         [r.token for r in self.store.query()])
        self.assertEqual(4, self.store.query()[0].to_dict()['token'])
        with self.assertRaisesRegex(ValueError, 'token'):
            self.store.record('fence', 'x', token='4')

    # -- operator requests ------------------------------------------------

    def test_operator_requests_merge_and_are_recorded(self):
        self.store.open_incident('host_failure:c1', 'host_failure',
                                 host='c1', owner='engine-a', generation=2)
        self.store.update_incident('host_failure:c1', state='fence_failed')
        incident = self.store.operator_request(
            'host_failure:c1', 'retry', who='alice',
            reason='  BMC cable replaced  ', at=minutes(1))
        self.assertEqual({'retry': {'who': 'alice',
                                    'reason': 'BMC cable replaced',
                                    'at': minutes(1).isoformat()}},
                         incident.operator)
        self.assertEqual(incident, self.store.get_incident('host_failure:c1'))
        self.new_store().operator_request(
            'host_failure:c1', 'confirm_down', who='bob',
            reason='pulled the power cords', at=minutes(2))
        incident = self.store.get_incident('host_failure:c1')
        self.assertEqual(['confirm_down', 'retry'], sorted(incident.operator))
        self.assertEqual('bob', incident.operator['confirm_down']['who'])
        # requests change neither state, owner nor generation
        self.assertEqual(('fence_failed', 'engine-a', 2, True),
                         (incident.state, incident.owner,
                          incident.generation, incident.is_open))
        # a second retry replaces the first
        self.store.operator_request('host_failure:c1', 'retry', who='carol',
                                    reason='again', at=minutes(3))
        self.assertEqual('carol', self.store.get_incident(
            'host_failure:c1').operator['retry']['who'])

        records = self.store.query(incident='host_failure:c1')
        self.assertEqual(
            [('operator.retry', 'c1', minutes(1),
              'operator alice asked to retry: BMC cable replaced'),
             ('operator.confirm_down', 'c1', minutes(2),
              'operator bob confirmed c1 is powered off: pulled the power '
              'cords'),
             ('operator.retry', 'c1', minutes(3),
              'operator carol asked to retry: again')],
            [(r.kind, r.host, r.at, r.message) for r in records])
        self.assertEqual({'who': 'alice', 'reason': 'BMC cable replaced'},
                         records[0].detail)
        self.assertEqual(['operator.retry', 'operator.confirm_down',
                          'operator.retry'],
                         [r.kind for r in self.store.query(kind='operator')])

    def test_operator_close_closes_and_is_final(self):
        self.store.open_incident('host_failure:c1', 'host_failure',
                                 host='c1')
        self.store.operator_request('host_failure:c1', 'retry', who='alice',
                                    reason='try again')
        incident = self.store.operator_request(
            'host_failure:c1', 'close', who='alice',
            reason='VMs rebuilt by hand')
        self.assertEqual('closed', incident.state)
        self.assertFalse(incident.is_open)
        self.assertIsNotNone(incident.closed_at)
        self.assertEqual(['close', 'retry'], sorted(incident.operator))
        self.assertIn('closed', history_store.CLOSED_STATES)
        (record,) = self.store.query(kind='operator.close')
        self.assertEqual(('closed', 'host_failure:c1',
                          'operator alice closed the incident: VMs rebuilt '
                          'by hand'),
                         (record.outcome, record.incident, record.message))
        for action in history_store.OPERATOR_ACTIONS:
            with self.assertRaisesRegex(ValueError, 'is closed'):
                self.store.operator_request('host_failure:c1', action,
                                            who='bob', reason='late')
        self.assertEqual(incident, self.store.get_incident('host_failure:c1'))
        self.assertEqual(2, len(self.store.query(kind='operator')))

    def test_no_retry_or_confirm_down_of_an_incident_the_engine_closed(self):
        self.store.open_incident('host_failure:c1', 'host_failure',
                                 host='c1')
        self.store.update_incident('host_failure:c1', state='done')
        for action in ('retry', 'confirm_down'):
            with self.assertRaisesRegex(
                    ValueError, r'host_failure:c1 is closed \(state done'):
                self.store.operator_request('host_failure:c1', action,
                                            who='alice', reason='why not')
        self.assertIsNone(self.store.get_incident('host_failure:c1').operator)
        self.assertEqual([], self.store.query())

    def test_operator_request_refuses_bad_input(self):
        self.store.open_incident('host_failure:c1', 'host_failure',
                                 host='c1')
        self.store.open_incident('vm:1', 'instance', instance='1')
        request = self.store.operator_request
        with self.assertRaises(history_store.UnknownIncident):
            request('host_failure:c9', 'retry', who='alice', reason='r')
        with self.assertRaisesRegex(ValueError, 'retry, close, '
                                                'confirm_down'):
            request('host_failure:c1', 'reboot', who='alice', reason='r')
        with self.assertRaisesRegex(ValueError, 'who is required'):
            request('host_failure:c1', 'retry', who=' ', reason='r')
        with self.assertRaisesRegex(ValueError, 'who is required'):
            request('host_failure:c1', 'retry', who=None, reason='r')
        with self.assertRaisesRegex(ValueError, 'reason is required'):
            request('host_failure:c1', 'retry', who='alice', reason='')
        with self.assertRaisesRegex(ValueError, 'longer than 1024'):
            request('host_failure:c1', 'retry', who='alice',
                    reason='x' * 1025)
        with self.assertRaisesRegex(ValueError, 'no host'):
            request('vm:1', 'confirm_down', who='alice', reason='r')
        self.assertIsNone(self.store.get_incident('host_failure:c1').operator)
        self.assertEqual([], self.store.query())
        request('host_failure:c1', 'retry', who='alice', reason='x' * 1024)
        self.assertEqual('x' * 1024, self.store.get_incident(
            'host_failure:c1').operator['retry']['reason'])

    def test_concurrent_operator_requests_are_all_kept(self):
        """Operators post requests on one incident at the same moment: the
        read-modify-write of the requests loses none."""
        self.store.open_incident('host_failure:c1', 'host_failure',
                                 host='c1')
        actions = ['retry', 'confirm_down'] * 3
        stores = [self.new_store() for _ in actions]
        for store in stores:
            store.get_incident('warm-up')
        barrier = threading.Barrier(len(actions), timeout=30)
        errors = []

        def post(n, store):
            try:
                barrier.wait()
                store.operator_request('host_failure:c1', actions[n],
                                       who='op-%d' % n, reason='r%d' % n)
            except Exception as exc:  # reported below
                errors.append(exc)

        threads = [threading.Thread(target=post, args=(n, store))
                   for n, store in enumerate(stores)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        self.assertEqual([], errors)
        self.assertEqual(['confirm_down', 'retry'], sorted(
            self.store.get_incident('host_failure:c1').operator))
        self.assertEqual(len(actions),
                         len(self.store.query(kind='operator')))

    def test_clear_operator_request_is_for_the_current_owner(self):
        self.store.open_incident('host_failure:c1', 'host_failure',
                                 host='c1', owner='engine-a', generation=1)
        self.store.operator_request('host_failure:c1', 'retry', who='alice',
                                    reason='r')
        self.store.operator_request('host_failure:c1', 'confirm_down',
                                    who='alice', reason='off')
        self.store.claim_incident('host_failure:c1', 'engine-b', 1)
        # engine-a lost the incident: its clear changes nothing
        self.assertFalse(self.store.clear_operator_request(
            'host_failure:c1', 'retry', 1))
        self.assertEqual(['confirm_down', 'retry'], sorted(
            self.store.get_incident('host_failure:c1').operator))
        self.assertTrue(self.new_store().clear_operator_request(
            'host_failure:c1', 'retry', 2))
        self.assertEqual(['confirm_down'], list(
            self.store.get_incident('host_failure:c1').operator))
        self.assertTrue(self.store.clear_operator_request(
            'host_failure:c1', 'retry', 2))
        self.assertTrue(self.store.clear_operator_request(
            'host_failure:c1', 'confirm_down', 2))
        incident = self.store.get_incident('host_failure:c1')
        self.assertIsNone(incident.operator)
        self.assertEqual(('engine-b', 2), (incident.owner,
                                           incident.generation))
        with self.assertRaises(history_store.UnknownIncident):
            self.store.clear_operator_request('host_failure:c9', 'retry', 0)
        with self.assertRaisesRegex(ValueError, 'operator action'):
            self.store.clear_operator_request('host_failure:c1', 'nope', 2)
