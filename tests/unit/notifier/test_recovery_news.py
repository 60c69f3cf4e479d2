"""What a recovery concludes from Nova's rebuild notifications.

The flows run against the in-process Nova in tests/functional; here a
small stand-in for the environment isolates the conclusions drawn from one
notification, including the ones no real Nova produces on demand (a
rebuild error, news left over from an earlier rebuild).
"""

import datetime
import unittest

from nova_ha.notifier import events
from nova_ha.notifier import rebuild_news
from nova_ha.notifier import recovery

NOW = datetime.datetime(2026, 11, 24, 12, 0, tzinfo=datetime.timezone.utc)
VM = '2f1c2a83-5d51-4b57-9e69-5f1d1a0c6a11'


class StandInNova:
    def __init__(self, server):
        self.servers = {server['id']: server}
        self.evacuated = []

    def server(self, server_id):
        return dict(self.servers[server_id])

    def evacuate(self, server_id, keep_running=False):
        self.evacuated.append(server_id)


class StandInEnv:
    def __init__(self, nova):
        self.nova = nova
        self.rebuilds = rebuild_news.RebuildNews()
        self.history = self
        self.steps = []

    def mark_step(self, incident, name, status, detail=None):
        self.steps.append((name, status))

    def acquire(self, name, timeout):
        return self

    def release(self):
        pass

    def monotonic(self):
        return 0.0

    def record(self, *args, **kwargs):
        pass


def news(kind, host='spare-1', state='active'):
    return events.Event(kind, host, NOW, source='nova', instance=VM,
                        state=state)


class TestRebuildNewsInARecovery(unittest.TestCase):

    def setUp(self):
        self.nova = StandInNova({'id': VM, 'name': 'pet', 'host': 'failed-1',
                                 'status': 'ACTIVE', 'task_state': None})
        self.env = StandInEnv(self.nova)
        self.recovery = recovery.HostRecovery(
            self.env, recovery.FlowSettings(), 'failed-1', 'incident-1')
        self.move = recovery._Move({'id': VM, 'name': 'pet',
                                    'status': 'ACTIVE'},
                                   'evacuate:' + VM, None, 0.0)

    def test_start_means_a_target_claimed_it(self):
        self.assertIsNone(self.recovery._rebuilt(
            self.move, news(events.REBUILD_START)))
        self.assertFalse(self.move.scheduling)

    def test_end_on_the_target_ends_the_move_without_asking_nova(self):
        self.nova.servers.clear()      # any read would fail
        server = self.recovery._rebuilt(
            self.move, news(events.REBUILD_END, state='stopped'))
        self.assertEqual(('spare-1', 'SHUTOFF'),
                         (server['host'], server['status']))

    def test_news_from_the_failed_host_itself_is_no_move(self):
        self.assertIsNone(self.recovery._rebuilt(
            self.move, news(events.REBUILD_END, host='failed-1')))

    def test_error_is_checked_with_nova_and_fails_the_move(self):
        self.assertRaises(recovery.StepFailed, self.recovery._rebuilt,
                          self.move, news(events.REBUILD_ERROR))

    def test_news_from_before_the_move_is_dropped_when_it_begins(self):
        # An earlier rebuild of this VM elsewhere must not end this move.
        self.env.rebuilds.report(news(events.REBUILD_END, host='old-1'))
        move = self.recovery._begin_move({'id': VM, 'name': 'pet'})
        self.assertEqual([VM], self.nova.evacuated)
        self.assertEqual('evacuating', move.phase)
        self.assertEqual({}, self.env.rebuilds.take([VM]))
