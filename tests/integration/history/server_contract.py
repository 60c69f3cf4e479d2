"""The store contract plus what only a database server can show."""

import datetime
import threading
import time

import sqlalchemy as sa

from nova_ha.history import models
from tests.integration.history import backends
from tests.unit.history import store_contract


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError('timed out after %s s waiting for %s' % (
                timeout, what))
        time.sleep(0.05)


class ServerStoreContract(store_contract.StoreContract):
    """Subclasses set ADMIN_URL; one throwaway database per class."""

    ADMIN_URL = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.database = backends.ThrowawayDatabase(cls.ADMIN_URL)
        cls.database.create()

    @classmethod
    def tearDownClass(cls):
        cls.database.drop()
        super().tearDownClass()

    def make_url(self):
        return self.database.url

    def test_open_incident_losing_to_an_uncommitted_insert(self):
        """Engine A has inserted the key but not committed; engine B's
        open_incident waits on the unique index, and once A commits, B
        gets A's incident with created=False instead of an error."""
        holder = sa.create_engine(self.url, poolclass=sa.pool.NullPool)
        self.addCleanup(holder.dispose)
        now = datetime.datetime.now(datetime.timezone.utc)
        connection = holder.connect()
        self.addCleanup(connection.close)
        transaction = connection.begin()
        connection.execute(models.incidents.insert().values(
            key='host:held', kind='host', host='winner', state='open',
            opened_at=now, updated_at=now))
        results, errors = [], []

        def loser():
            try:
                results.append(self.new_store().open_incident(
                    'host:held', 'host', host='loser'))
            except Exception as exc:  # reported below
                errors.append(exc)

        thread = threading.Thread(target=loser)
        thread.start()
        try:
            wait_for(lambda: self.database.lock_waiters() >= 1, 30,
                     'the second insert to wait on the first')
        finally:
            transaction.commit()
            thread.join(60)
        self.assertEqual([], errors)
        ((incident, created),) = results
        self.assertFalse(created)
        self.assertEqual('winner', incident.host)

    def test_microseconds_survive(self):
        at = datetime.datetime(2025, 5, 1, 10, 0, 0, 654321,
                               tzinfo=datetime.timezone.utc)
        self.store.record('alert', 'precise', at=at)
        self.assertEqual(at, self.store.query()[0].at)
