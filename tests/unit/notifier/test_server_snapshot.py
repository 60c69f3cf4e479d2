"""The failed host's servers: a read before the fence, corrected after."""

import datetime
import threading
import time
import unittest

from nova_ha.notifier import server_snapshot


def server(sid, host='h1', status='ACTIVE'):
    return {'id': sid, 'name': sid, 'status': status, 'host': host,
            'task_state': None, 'vm_state': 'active', 'metadata': {}}


class TestMerge(unittest.TestCase):

    def test_changes_replace_the_first_read_and_arrivals_come_last(self):
        first = [server('a'), server('b')]
        changed = [server('c'), server('a', status='SHUTOFF')]
        merged = server_snapshot.merge(first, changed, 'h1')
        self.assertEqual(['a', 'b', 'c'], [s['id'] for s in merged])
        self.assertEqual('SHUTOFF', merged[0]['status'])

    def test_a_server_reported_elsewhere_is_dropped(self):
        merged = server_snapshot.merge([server('a')],
                                       [server('a', host='h2')], 'h1')
        self.assertEqual([], merged)


class FakeNova:
    """Records the reads (a unit test of the snapshot's own logic; the
    real Nova answers them in tests/functional/notifier/test_snapshot.py).
    """

    def __init__(self, first, changed, migrated=None, moved=None):
        self.calls = []
        self.first, self.changed = first, changed
        self.migrated = migrated or {}
        self.moved = {s['id']: s for s in moved or ()}
        self.fail = set()
        self.release = threading.Event()

    def _answer(self, call, value):
        self.calls.append(call)
        if call[0] in self.fail:
            raise RuntimeError('nova-api unreachable')
        return value

    def servers_on(self, host, changes_since=None):
        if changes_since:
            return self._answer(('changed', changes_since),
                                list(self.changed))
        self.full_reads = getattr(self, 'full_reads', 0) + 1
        if self.full_reads == 1:   # the background read: held until released
            self.release.wait(5)
        try:
            return self._answer(('full',), list(self.first))
        finally:
            self.fail.discard('full')   # a full read fails once at most

    def migrations_from(self, host, since):
        return self._answer(('migrations', since), dict(self.migrated))

    def server(self, server_id):
        return self._answer(('server', server_id), self.moved[server_id])


AT = datetime.datetime(2026, 11, 24, 12, 0, 0, tzinfo=datetime.timezone.utc)


class TestServerSnapshot(unittest.TestCase):

    def snapshot(self, nova):
        snapshot = server_snapshot.ServerSnapshot(nova, 'h1', now=lambda: AT)
        nova.release.set()
        return snapshot

    def test_reads_changes_since_the_first_read_minus_the_skew_margin(self):
        nova = FakeNova([server('a')], [server('b')])
        self.assertEqual(['a', 'b'],
                         [s['id'] for s in self.snapshot(nova).servers()])
        since = '2026-11-24T11:59:50+00:00'
        # The two corrections run at once, in either order.
        self.assertEqual(('full',), nova.calls[0])
        self.assertCountEqual([('migrations', since), ('changed', since)],
                              nova.calls[1:])

    def test_a_server_that_migrated_away_is_dropped(self):
        # Its resize finished just before the fence: the host filter of
        # the changes-since read cannot show it; its migration does.
        nova = FakeNova([server('a'), server('b')], [],
                        migrated={'b': {'status': 'finished'}},
                        moved=[server('b', host='h2')])
        self.assertEqual(['a'],
                         [s['id'] for s in self.snapshot(nova).servers()])
        self.assertIn(('server', 'b'), nova.calls)

    def test_a_failed_first_read_is_made_again_in_full(self):
        nova = FakeNova([server('a')], [])
        nova.fail.add('full')
        self.assertEqual(['a'],
                         [s['id'] for s in self.snapshot(nova).servers()])
        self.assertEqual([('full',), ('full',)], nova.calls)

    def test_a_failed_correction_falls_back_to_a_full_read(self):
        for failing in ('migrations', 'changed'):
            nova = FakeNova([server('a')], [server('b')])
            nova.fail.add(failing)
            with self.assertLogs(server_snapshot.LOG.logger, 'WARNING'):
                servers = self.snapshot(nova).servers()
            self.assertEqual(['a'], [s['id'] for s in servers])
            # Read again in full (the other correction may still be
            # answering in the background).
            self.assertEqual(2, nova.calls.count(('full',)))

    def test_the_two_corrections_run_at_once(self):
        # The migrations read answers only once the changes-since read has
        # begun: made one after the other, they would never meet.
        nova = FakeNova([server('a')], [server('b')])
        changed_began = threading.Event()
        servers_on, migrations_from = nova.servers_on, nova.migrations_from

        def changed_read(host, changes_since=None):
            if changes_since:
                changed_began.set()
            return servers_on(host, changes_since)

        def migrations_read(host, since):
            self.assertTrue(changed_began.wait(5),
                            'the corrections ran one after the other')
            return migrations_from(host, since)
        nova.servers_on, nova.migrations_from = changed_read, migrations_read
        self.assertEqual(['a', 'b'],
                         [s['id'] for s in self.snapshot(nova).servers()])

    def test_a_hung_first_read_is_abandoned(self):
        nova = FakeNova([server('a')], [])
        snapshot = server_snapshot.ServerSnapshot(nova, 'h1')
        started = time.monotonic()
        servers = snapshot.servers(first_read_timeout=0.2)
        nova.release.set()
        self.assertLess(time.monotonic() - started, 4.0)
        self.assertEqual(['a'], [s['id'] for s in servers])
