"""The failed host's servers: a read before the fence, corrected after."""

import datetime
import threading
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

    def test_deleted_servers_are_dropped(self):
        merged = server_snapshot.merge(
            [server('a'), server('b')],
            [server('a', status='DELETED'), server('b', status='SOFT_DELETED')],
            'h1')
        self.assertEqual([], merged)

    def test_a_server_reported_elsewhere_is_dropped(self):
        merged = server_snapshot.merge([server('a')],
                                       [server('a', host='h2')], 'h1')
        self.assertEqual([], merged)


class FakeNova:
    """Records the reads (a unit test of the snapshot's own logic; the
    real Nova answers these reads in tests/functional/notifier)."""

    def __init__(self, first, changed, fail_first=False):
        self.calls = []
        self.first, self.changed = first, changed
        self.fail_first = fail_first
        self.release = threading.Event()

    def servers_on(self, host, changes_since=None):
        self.calls.append((host, changes_since))
        if changes_since:
            return self.changed
        self.release.wait(5)
        if self.fail_first and len(self.calls) == 1:
            raise RuntimeError('nova-api unreachable')
        return self.first


class TestServerSnapshot(unittest.TestCase):

    def test_second_read_asks_for_changes_since_the_first_minus_skew(self):
        at = datetime.datetime(2026, 11, 24, 12, 0, 0,
                               tzinfo=datetime.timezone.utc)
        nova = FakeNova([server('a')], [server('b')])
        snapshot = server_snapshot.ServerSnapshot(nova, 'h1', now=lambda: at)
        nova.release.set()
        self.assertEqual(['a', 'b'], [s['id'] for s in snapshot.servers()])
        self.assertEqual(('h1', None), nova.calls[0])
        self.assertEqual(('h1', '2026-11-24T11:59:50+00:00'), nova.calls[1])

    def test_a_failed_first_read_is_made_again_in_full(self):
        nova = FakeNova([server('a')], [], fail_first=True)
        snapshot = server_snapshot.ServerSnapshot(nova, 'h1')
        nova.release.set()
        # The background read failed; the second full read answers.
        self.assertEqual(['a'], [s['id'] for s in snapshot.servers()])
        self.assertEqual([('h1', None), ('h1', None)], nova.calls)
