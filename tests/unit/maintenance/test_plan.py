"""The drain plan and the reading of Nova's answers (pure)."""

import unittest

from nova_ha.maintenance import plan


def server(name, status='ACTIVE', task_state=None, host='c1', **metadata):
    return {'id': 'id-' + name, 'name': name, 'status': status,
            'task_state': task_state, 'host': host, 'metadata': metadata}


class TestPlanDrain(unittest.TestCase):

    def test_ha_first_by_priority_then_the_rest_by_name(self):
        items = plan.plan_drain([
            server('zeta'), server('low', **{'ha:enabled': 'true',
                                             'ha:priority': '1'}),
            server('alpha'),
            server('masakari', HA_Enabled='True'),
            server('top', **{'ha:enabled': 'true', 'ha:priority': '9'})])
        self.assertEqual(['top', 'low', 'masakari', 'alpha', 'zeta'],
                         [i.name for i in items])
        self.assertEqual([True, True, True, False, False],
                         [i.ha for i in items])

    def test_evacuate_all_segment_makes_every_vm_ha_unless_opted_out(self):
        items = plan.plan_drain([server('a'), server('out', **{
            'ha:enabled': 'false'}), server('b', **{'ha:priority': '5'})],
            evacuate_all=True)
        self.assertEqual([('b', True), ('a', True), ('out', False)],
                         [(i.name, i.ha) for i in items])

    def test_action_by_status(self):
        items = {i.name: i for i in plan.plan_drain([
            server('run'), server('paused', 'PAUSED'),
            server('off', 'SHUTOFF'), server('broken', 'ERROR'),
            server('resized', 'VERIFY_RESIZE'),
            server('asleep', 'SUSPENDED'),
            server('moving', 'MIGRATING', task_state='migrating'),
            server('busy', 'ACTIVE', task_state='rebooting')])}
        self.assertEqual(plan.LIVE, items['run'].action)
        self.assertEqual(plan.LIVE, items['paused'].action)
        self.assertEqual(plan.COLD, items['off'].action)
        for name in ('broken', 'resized', 'asleep', 'busy'):
            self.assertEqual(plan.SKIP, items[name].action, name)
        self.assertIn('ERROR', items['broken'].reason)
        self.assertIn('confirm or revert', items['resized'].reason)
        self.assertIn('this one is SUSPENDED', items['asleep'].reason)
        self.assertIn('task_state rebooting', items['busy'].reason)
        # A live migration an interrupted drain started: waited for.
        self.assertEqual((plan.LIVE, True), (items['moving'].action,
                                             items['moving'].resume))
        self.assertFalse(items['run'].resume)

    def test_nothing_moves_when_the_source_compute_is_down(self):
        items = plan.plan_drain([server('a'), server('b', 'SHUTOFF')],
                                source_up=False)
        self.assertEqual({plan.SKIP}, {i.action for i in items})
        self.assertIn('nova-compute on the host is down', items[0].reason)

    def test_cold_migrations_awaiting_confirmation_come_first(self):
        parked = server('parked', 'VERIFY_RESIZE', host='c2',
                        **{'ha:enabled': 'true'})
        items = plan.plan_drain([server('top', **{'ha:enabled': 'true',
                                                  'ha:priority': '9'})],
                                awaiting_confirmation=[parked])
        self.assertEqual([('parked', plan.CONFIRM, True),
                          ('top', plan.LIVE, False)],
                         [(i.name, i.action, i.resume) for i in items])


def seen(action, now, confirming=False, elapsed=1.0, timeout=60.0):
    return plan.observe(action, confirming, 'c1', now, elapsed, timeout)


class TestObserve(unittest.TestCase):

    def test_live_migration(self):
        self.assertEqual(plan.MOVING, seen(plan.LIVE, server(
            'a', 'MIGRATING', task_state='migrating')).state)
        done = seen(plan.LIVE, server('a', host='c2'))
        self.assertEqual((plan.MOVED, 'c2'), (done.state, done.target))
        failed = seen(plan.LIVE, server('a'))
        self.assertEqual(plan.FAILED, failed.state)
        self.assertIn('live migration ended with the VM still on c1 '
                      '(ACTIVE)', failed.reason)

    def test_deadline(self):
        late = seen(plan.LIVE, server('a', 'MIGRATING',
                                      task_state='migrating'),
                    elapsed=61.0)
        self.assertEqual(plan.FAILED, late.state)
        self.assertIn('not moved within 60 s', late.reason)

    def test_cold_migration_is_confirmed_once_then_finishes(self):
        self.assertEqual(plan.MOVING, seen(plan.COLD, server(
            'a', 'RESIZE', task_state='resize_migrating')).state)
        waiting = server('a', 'VERIFY_RESIZE', host='c2')
        self.assertEqual(plan.CONFIRM_NOW, seen(plan.COLD, waiting).state)
        self.assertEqual(plan.CONFIRM_NOW, seen(plan.CONFIRM,
                                                waiting).state)
        # Confirmation requested; Nova still shows VERIFY_RESIZE a moment.
        self.assertEqual(plan.MOVING, seen(plan.COLD, waiting,
                                           confirming=True).state)
        done = seen(plan.COLD, server('a', 'SHUTOFF', host='c2'),
                    confirming=True)
        self.assertEqual((plan.MOVED, 'c2'), (done.state, done.target))
        failed = seen(plan.COLD, server('a', 'SHUTOFF'))
        self.assertEqual(plan.FAILED, failed.state)
        self.assertIn('cold migration', failed.reason)

    def test_a_deleted_vm_is_gone(self):
        self.assertEqual(plan.GONE, seen(plan.LIVE, None).state)
