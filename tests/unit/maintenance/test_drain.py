"""The drain runner: concurrency bound, deadlines, refusals, VM locks.

Nova is a stand-in here, and only here: the in-process cloud cannot hold a
migration in flight for as long as a test needs, refuse one on demand or
let one run past its deadline.  The stand-in replays, per VM, the states
Nova would show on successive reads; the end-to-end drain runs on the real
in-process Nova in tests/functional/maintenance.  The locks are real tooz
locks (file driver), the same the engine takes.
"""

import os
import tempfile
import unittest

from nova_ha.maintenance import drain
from nova_ha.maintenance import plan
from nova_ha.maintenance import locks as ha_locks
from nova_ha.notifier.nova import NovaError


class ScriptedNova:
    """Answers reads of each VM from a script of states, one per read;
    the last state repeats."""

    def __init__(self, scripts, refuse=()):
        self.scripts = {vm: list(states) for vm, states in scripts.items()}
        self.refuse = set(refuse)
        self.started = []
        self.confirmed = []
        self.in_flight = set()
        self.most_in_flight = 0

    def live_migrate(self, vm):
        if vm in self.refuse:
            raise NovaError('live-migrate %s' % vm, Exception(
                'No valid host was found.'))
        self._begin(vm)

    cold_migrate = live_migrate

    def _begin(self, vm):
        self.started.append(vm)
        self.in_flight.add(vm)
        self.most_in_flight = max(self.most_in_flight, len(self.in_flight))

    def confirm_migration(self, vm):
        self.confirmed.append(vm)

    def server_or_none(self, vm):
        states = self.scripts[vm]
        state = states.pop(0) if len(states) > 1 else states[0]
        if state is None or not state.get('task_state'):
            self.in_flight.discard(vm)
        return state

    def move_failure_detail(self, vm):
        return 'compute_pre_live_migration: disk not found'


def state(host, status='ACTIVE', task_state=None):
    return {'host': host, 'status': status, 'task_state': task_state}


MOVING = state('c1', 'MIGRATING', 'migrating')


def item(name, action=plan.LIVE, **kw):
    return plan.DrainItem(id=name, name=name, ha=True, priority=0,
                          status='ACTIVE', action=action, **kw)


class Clock:
    def __init__(self):
        self.now = 0.0

    def sleep(self, seconds):
        self.now += seconds

    def monotonic(self):
        return self.now


class TestDrain(unittest.TestCase):

    def setUp(self):
        tmp = tempfile.TemporaryDirectory()
        self.addCleanup(tmp.cleanup)
        self.locks = ha_locks.ToozLocks(
            'file://' + os.path.join(tmp.name, 'locks'))
        self.addCleanup(self.locks.stop)
        self.clock = Clock()

    def run_drain(self, nova, items, **settings):
        values = dict(max_concurrent=2, migration_timeout=10.0,
                      poll_interval=1.0)
        values.update(settings)
        return drain.Drain(nova, 'c1', drain.DrainSettings(**values),
                           locks=self.locks, sleep=self.clock.sleep,
                           monotonic=self.clock.monotonic).run(items)

    def test_never_more_than_max_concurrent_in_flight_and_in_order(self):
        nova = ScriptedNova({name: [MOVING, MOVING, state('c2')]
                             for name in 'abcde'})
        results = self.run_drain(nova, [item(n) for n in 'abcde'])
        self.assertEqual(list('abcde'), nova.started)
        self.assertEqual(2, nova.most_in_flight)
        self.assertEqual([('moved', 'c2')] * 5,
                         [(r.outcome, r.target) for r in results])

    def test_refused_failed_and_late_moves_do_not_stop_the_others(self):
        nova = ScriptedNova({
            'refused': [state('c1')],
            'failed': [MOVING, state('c1')],
            'late': [MOVING],
            'fine': [MOVING, state('c2')]}, refuse={'refused'})
        results = {r.item.name: r for r in self.run_drain(
            nova, [item('refused'), item('failed'), item('late'),
                   item('fine')])}
        self.assertEqual('failed', results['refused'].outcome)
        self.assertIn('No valid host was found', results['refused'].detail)
        self.assertEqual('failed', results['failed'].outcome)
        self.assertIn('still on c1 (ACTIVE): compute_pre_live_migration: '
                      'disk not found', results['failed'].detail)
        self.assertEqual('failed', results['late'].outcome)
        self.assertIn('not moved within 10 s', results['late'].detail)
        self.assertEqual('moved', results['fine'].outcome)

    def test_cold_migration_is_confirmed_once(self):
        waiting = state('c2', 'VERIFY_RESIZE')
        nova = ScriptedNova({'off': [state('c1', 'RESIZE', 'resize_prep'),
                                     waiting, waiting, state('c2',
                                                             'SHUTOFF')]})
        results = self.run_drain(nova, [item('off', plan.COLD)])
        self.assertEqual(['off'], nova.confirmed)
        self.assertEqual(('moved', 'c2'), (results[0].outcome,
                                           results[0].target))

    def test_resumed_moves_are_not_started_again(self):
        nova = ScriptedNova({'moving': [MOVING, state('c2')]})
        results = self.run_drain(nova, [item('moving', resume=True)])
        self.assertEqual([], nova.started)
        self.assertEqual('moved', results[0].outcome)

    def test_a_vm_the_engine_holds_is_skipped(self):
        held = self.locks.try_lock('vm-busy')
        self.addCleanup(held.release)
        nova = ScriptedNova({'busy': [state('c2')], 'free': [state('c2')]})
        results = self.run_drain(nova, [item('busy'), item('free')])
        self.assertEqual(['free'], nova.started)
        self.assertEqual('skipped', results[0].outcome)
        self.assertIn('nova-ha-engine is acting on it', results[0].detail)

    def test_vm_locks_are_released_after_the_drain(self):
        nova = ScriptedNova({'a': [MOVING, state('c2')],
                             'b': [state('c1')]}, refuse={'b'})
        self.run_drain(nova, [item('a'), item('b')])
        for name in ('vm-a', 'vm-b'):
            lock = self.locks.try_lock(name)
            self.assertIsNotNone(lock, name)
            lock.release()

    def test_interrupt_reports_where_each_vm_stands(self):
        class Interrupting(ScriptedNova):
            def server_or_none(self, vm):
                if vm == 'b':
                    raise KeyboardInterrupt
                return super().server_or_none(vm)

        nova = Interrupting({'a': [state('c2')], 'b': [MOVING],
                             'c': [state('c2')]})
        with self.assertRaises(drain.DrainInterrupted) as caught:
            self.run_drain(nova, [item('a'), item('b'), item('c'),
                                  item('skip', plan.SKIP, reason='ERROR')])
        self.assertEqual([('a', 'moved'), ('b', 'interrupted'),
                          ('c', 'not_started'), ('skip', 'skipped')],
                         [(r.item.name, r.outcome)
                          for r in caught.exception.results])
        lock = self.locks.try_lock('vm-b')     # released on the way out
        self.assertIsNotNone(lock)
        lock.release()
