"""The server inventory: what it reads, when, and what a failure gets.

Nova is a stand-in that records the reads (the inventory's own logic;
tests/functional/notifier/test_engine.py has the real Nova answer them).
"""

import datetime
import threading
import unittest

from nova_ha.notifier import server_inventory
from nova_ha.notifier import server_snapshot

AT = datetime.datetime(2026, 11, 25, 12, 0, 0, tzinfo=datetime.timezone.utc)
MARGIN = server_snapshot.CLOCK_SKEW_MARGIN


def server(sid, host='h1', status='ACTIVE', priority=None):
    metadata = {'ha:enabled': 'true'}
    if priority is not None:
        metadata['ha:priority'] = str(priority)
    return {'id': sid, 'name': sid, 'status': status, 'host': host,
            'task_state': None, 'vm_state': 'active', 'metadata': metadata}


class RecordingNova:
    """Answers each read with the next prepared answer."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.reads = []

    def all_servers(self, changes_since=None):
        self.reads.append(changes_since)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class Clock:
    def __init__(self):
        self.now = AT

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += datetime.timedelta(seconds=seconds)


class TestRefresh(unittest.TestCase):

    def setUp(self):
        self.clock = Clock()

    def inventory(self, nova, interval=60.0, full_interval=3600.0):
        return server_inventory.ServerInventory(
            nova, interval, full_interval=full_interval, now=self.clock)

    def test_reads_everything_then_changes_since_the_last_read(self):
        nova = RecordingNova(
            [server('a'), server('b'), server('c', host='h2')],
            [server('a', status='SHUTOFF'), server('b', status='DELETED'),
             server('d')])
        inventory = self.inventory(nova)
        inventory.refresh()
        self.clock.advance(60)
        inventory.refresh()

        self.assertEqual([None, (AT - MARGIN).isoformat()], nova.reads)
        on_h1 = inventory.on('h1')
        self.assertEqual(AT + datetime.timedelta(seconds=60), on_h1.as_of)
        self.assertEqual({'a': 'SHUTOFF', 'd': 'ACTIVE'},
                         {s['id']: s['status'] for s in on_h1.servers})
        self.assertEqual(['c'], [s['id'] for s in inventory.on('h2').servers])

    def test_a_failed_read_keeps_the_last_one_and_its_time(self):
        nova = RecordingNova([server('a')], RuntimeError('nova-api down'),
                             [server('b')])
        inventory = self.inventory(nova)
        inventory.refresh()
        self.clock.advance(60)
        self.assertRaises(RuntimeError, inventory.refresh)
        self.assertEqual(AT, inventory.on('h1').as_of)
        self.clock.advance(60)
        inventory.refresh()
        # The next read reaches back to the last one that worked.
        self.assertEqual((AT - MARGIN).isoformat(), nova.reads[-1])
        self.assertEqual(['a', 'b'],
                         [s['id'] for s in inventory.on('h1').servers])

    def test_everything_is_read_again_every_full_interval(self):
        nova = RecordingNova([server('a'), server('gone')], [],
                             [server('a')])
        inventory = self.inventory(nova, interval=60, full_interval=120)
        inventory.refresh()
        self.clock.advance(60)
        inventory.refresh()
        self.clock.advance(60)
        inventory.refresh()
        self.assertIsNone(nova.reads[2])
        # A server that vanished unseen (archived) is forgotten.
        self.assertEqual(['a'], [s['id'] for s in inventory.on('h1').servers])

    def test_no_inventory_before_a_read_or_after_reads_stop_working(self):
        nova = RecordingNova([server('a')])
        inventory = self.inventory(nova, interval=60, full_interval=3600)
        self.assertIsNone(inventory.on('h1'))
        inventory.refresh()
        self.clock.advance(3600 + 59)
        self.assertIsNotNone(inventory.on('h1'))
        self.clock.advance(2)
        self.assertIsNone(inventory.on('h1'))

    def test_a_host_gets_copies(self):
        inventory = self.inventory(RecordingNova([server('a')]))
        inventory.refresh()
        inventory.on('h1').servers[0]['status'] = 'ERROR'
        self.assertEqual('ACTIVE', inventory.on('h1').servers[0]['status'])


class TestBackgroundReads(unittest.TestCase):

    def test_no_read_while_a_recovery_runs_and_stop_ends_the_loop(self):
        busy = threading.Event()
        read = threading.Event()

        class Nova:
            reads = 0

            def all_servers(self, changes_since=None):
                self.reads += 1
                read.set()
                return []
        nova = Nova()
        busy.set()
        inventory = server_inventory.ServerInventory(
            nova, 0.01, busy=busy.is_set).start()
        self.addCleanup(inventory.stop)
        self.assertFalse(read.wait(0.3))
        busy.clear()
        self.assertTrue(read.wait(5))
        inventory.stop()
        reads = nova.reads
        self.assertFalse(inventory._thread.is_alive())
        self.assertEqual(reads, nova.reads)

    def test_a_failing_read_does_not_end_the_loop(self):
        calls = []
        again = threading.Event()

        class Nova:
            def all_servers(self, changes_since=None):
                calls.append(changes_since)
                if len(calls) == 1:
                    raise RuntimeError('nova-api down')
                again.set()
                return [server('a')]
        with self.assertLogs('nova_ha.notifier.server_inventory',
                             'WARNING') as logs:
            inventory = server_inventory.ServerInventory(Nova(),
                                                         0.01).start()
            self.addCleanup(inventory.stop)
            self.assertTrue(again.wait(5))
        self.assertIn('nova-api down', logs.output[0])
        self.assertIsNotNone(inventory.on('h1'))


class TestSnapshotFromTheInventory(unittest.TestCase):

    def test_no_early_read_and_the_correction_reaches_back_to_it(self):
        class Nova:
            def __init__(self):
                self.reads = []

            def servers_on(self, host, changes_since=None):
                self.reads.append(('servers', changes_since))
                return [server('a', priority=5), server('new')]

            def migrations_from(self, host, since):
                self.reads.append(('migrations', since))
                return {'left': {'status': 'done'}}

            def server(self, server_id):
                self.reads.append(('server', server_id))
                return server(server_id, host='h2')
        nova = Nova()
        warm = server_inventory.HostServers(
            [server('a'), server('left'), server('b')], AT)
        snapshot = server_snapshot.ServerSnapshot(nova, 'h1', warm=warm)
        servers = snapshot.servers()

        since = (AT - MARGIN).isoformat()
        self.assertEqual(sorted([('servers', since), ('migrations', since),
                                 ('server', 'left')]), sorted(nova.reads))
        self.assertEqual(['a', 'b', 'new'], [s['id'] for s in servers])
        self.assertEqual('5', servers[0]['metadata']['ha:priority'])
