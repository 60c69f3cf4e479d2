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
        # What each read of the migrations returns, in turn (the last
        # one again once they run out).
        self.migration_reads = [{}]
        self.reads = 0

    def evacuations_from(self, host, since):
        answer = self.migration_reads[min(self.reads,
                                          len(self.migration_reads) - 1)]
        self.reads += 1
        return answer

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
        self.clock = 0.0

    def mark_step(self, incident, name, status, detail=None):
        self.steps.append((name, status))

    def acquire(self, name, timeout):
        return self

    def release(self):
        pass

    def monotonic(self):
        return self.clock

    def sleep(self, seconds):
        self.clock += seconds

    def wait_for_rebuild_news(self, instances, timeout):
        self.clock += timeout
        return self.rebuilds.wait(instances, 0)

    def record(self, *args, **kwargs):
        pass


def news(kind, host='spare-1', state='active', instance=VM):
    return events.Event(kind, host, NOW, source='nova', instance=instance,
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


class TestMovesEndedOnNewsAreCheckedInNova(unittest.TestCase):
    """Nova sends rebuild.end before it sets the server's host and marks
    the migration done (finish_evacuation): a move that ended on the
    notification is checked once in Nova's records after the last move."""

    def setUp(self):
        self.nova = StandInNova({'id': VM, 'name': 'pet', 'host': 'failed-1',
                                 'status': 'ACTIVE', 'task_state': None})
        self.env = StandInEnv(self.nova)
        self.recovery = recovery.HostRecovery(
            self.env, recovery.FlowSettings(
                poll_interval=300.0, finish_poll_interval=0.5,
                finish_grace=10.0),
            'failed-1', 'incident-1')

    def confirm(self, seen_in=recovery.SEEN_IN_NOTIFICATION):
        results = {VM: {'outcome': recovery.DONE, 'target': 'spare-1',
                        'seen_in': seen_in}}
        self.recovery._confirm_finished([{'id': VM, 'name': 'pet'}],
                                        results, 'since')
        return results[VM]

    @staticmethod
    def migration(status):
        return {VM: {'status': status}}

    def test_a_move_nova_finished_stays_done_after_one_read(self):
        self.nova.migration_reads = [self.migration('done')]
        self.assertEqual(recovery.DONE, self.confirm()['outcome'])
        self.assertEqual(1, self.nova.reads)
        self.assertEqual([], self.env.steps)

    def test_nova_finishing_moments_later_is_waited_for(self):
        # The second read failed (HostRecovery._poll gives {} then).
        self.nova.migration_reads = [self.migration('running'), {},
                                     self.migration('done')]
        self.assertEqual(recovery.DONE, self.confirm()['outcome'])
        self.assertEqual(3, self.nova.reads)
        self.assertEqual(1.0, self.env.clock)

    def test_a_migration_nova_failed_after_the_rebuild_fails_the_move(self):
        self.nova.migration_reads = [self.migration('error')]
        result = self.confirm()
        self.assertEqual(recovery.FAILED, result['outcome'])
        self.assertIn('spare-1', result['error'])
        self.assertIn('migration error', result['error'])
        self.assertEqual([('evacuate:' + VM, recovery.FAILED)],
                         self.env.steps)

    def test_a_move_never_finished_in_nova_fails_after_the_grace(self):
        self.nova.migration_reads = [self.migration('running')]
        result = self.confirm()
        self.assertEqual(recovery.FAILED, result['outcome'])
        self.assertIn('migration running after 10 s', result['error'])
        self.assertGreaterEqual(self.env.clock, 10.0)
        self.assertLess(self.env.clock, 11.0)

    def test_moves_seen_ended_in_the_api_are_not_read_again(self):
        self.assertEqual(recovery.DONE,
                         self.confirm(recovery.SEEN_IN_API)['outcome'])
        self.assertEqual(0, self.nova.reads)

    def test_the_notification_end_is_marked_in_the_result(self):
        move = recovery._Move({'id': VM, 'name': 'pet', 'status': 'ACTIVE'},
                              'evacuate:' + VM, None, 0.0)
        move.target = 'spare-1'
        server = self.recovery._rebuilt(move, news(events.REBUILD_END))
        result = self.recovery._finish_move(move, server)
        self.assertEqual(recovery.SEEN_IN_NOTIFICATION, result['seen_in'])


class NovaRebuildingAtOnce(StandInNova):
    """Nova whose target rebuilds each VM as soon as it is asked to, and
    says so; it notes which moves the engine had ended by each request."""

    def __init__(self, servers, env):
        super().__init__(servers[0])
        self.servers.update((s['id'], s) for s in servers)
        self.env = env
        self.ended_before = {}

    def evacuate(self, server_id, keep_running=False):
        self.ended_before[server_id] = [
            name for name, status in self.env.steps
            if status == recovery.DONE]
        super().evacuate(server_id, keep_running)
        self.env.rebuilds.report(news(events.REBUILD_END,
                                      instance=server_id))


class TestMovesAreFollowedWhileRequestsGoOut(unittest.TestCase):
    """Requests go out a pool's worth at a time, and the news of the moves
    already asked for is taken in between: with one request at a time, a
    VM Nova has already rebuilt is recorded before the next is asked
    for (its history is live, and a power restore would start then)."""

    def test_first_move_ends_before_the_second_is_requested(self):
        first, second = VM, '7d6a1b9e-0c3f-4a57-8e2b-2b0f4c1d9e55'
        env = StandInEnv(None)
        env.nova = NovaRebuildingAtOnce(
            [{'id': vm, 'name': vm[:4], 'host': 'failed-1',
              'status': 'ACTIVE', 'task_state': None}
             for vm in (first, second)], env)
        env.nova.migration_reads = [{first: {'status': 'done'},
                                     second: {'status': 'done'}}]
        flow = recovery.HostRecovery(
            env, recovery.FlowSettings(request_workers=1),
            'failed-1', 'incident-1')
        results = flow.evacuate_all(
            [{'id': vm, 'name': vm[:4], 'status': 'ACTIVE'}
             for vm in (first, second)])
        self.assertEqual([first, second], env.nova.evacuated)
        self.assertEqual({first: recovery.DONE, second: recovery.DONE},
                         {vm: r['outcome'] for vm, r in results.items()})
        self.assertEqual(['evacuate:' + first],
                         env.nova.ended_before[second])
