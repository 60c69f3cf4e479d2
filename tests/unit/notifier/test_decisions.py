import unittest

from nova_ha.model import aggregates as agg
from nova_ha.notifier import decisions


def view(segment='A', enabled=True, maintenance=False, conflict=False):
    seg = agg.Segment(segment, enabled=enabled) if segment else None
    return agg.HostHAView(segment=seg, maintenance=maintenance,
                          segment_conflict=conflict)


class TestHostFailureGuard(unittest.TestCase):

    def guard(self, v, **kw):
        kw.setdefault('segment_hosts', ['h1', 'h2', 'h3', 'h4'])
        kw.setdefault('down_hosts', ['h1'])
        return decisions.host_failure_guard('h1', v, **kw)

    def test_proceeds_for_a_healthy_segment(self):
        self.assertTrue(self.guard(view()).proceed)

    def test_refusals(self):
        cases = [
            (dict(v=view(maintenance=True)), 'in maintenance', False),
            (dict(v=view(enabled=False)), 'ha:enabled=false', False),
            (dict(v=view(conflict=True, segment=None)), 'more than one',
             True),
            (dict(v=view(), recovering=True), 'already running', False),
            (dict(v=view(), down_hosts=['h1', 'h2', 'h3']), 'storm guard',
             True),
        ]
        for kw, reason, alert in cases:
            d = self.guard(kw.pop('v'), **kw)
            self.assertFalse(d.proceed, reason)
            self.assertIn(reason, d.reason)
            self.assertEqual(alert, d.alert, reason)

    def test_storm_threshold_is_a_strict_share(self):
        self.assertTrue(self.guard(view(), down_hosts=['h1', 'h2']).proceed)
        self.assertEqual(0.75, decisions.storm_share(['a', 'b', 'c', 'd'],
                                                     ['a', 'b', 'd', 'x']))


class TestChooseVMs(unittest.TestCase):

    def test_ha_only_priority_then_name(self):
        servers = [
            {'id': '1', 'name': 'b', 'status': 'ACTIVE',
             'metadata': {'ha:enabled': 'true', 'ha:priority': '5'}},
            {'id': '2', 'name': 'a', 'status': 'ACTIVE',
             'metadata': {'ha:enabled': 'true', 'ha:priority': '5'}},
            {'id': '3', 'name': 'c', 'status': 'SHUTOFF',
             'metadata': {'HA_Enabled': 'True', 'ha:priority': '9'}},
            {'id': '4', 'name': 'd', 'status': 'ACTIVE', 'metadata': {}},
        ]
        self.assertEqual(['3', '2', '1'],
                         [p.id for p in decisions.choose_vms(servers)])
        self.assertEqual(['3', '2', '1', '4'], [
            p.id for p in decisions.choose_vms(servers, evacuate_all=True)])

    def test_deleted_servers_are_never_planned(self):
        servers = [{'id': str(i), 'name': status, 'status': status,
                    'metadata': {'ha:enabled': 'true'}}
                   for i, status in enumerate(('DELETED', 'SOFT_DELETED',
                                               'ACTIVE'))]
        self.assertEqual(['2'], [p.id for p in decisions.choose_vms(
            servers, evacuate_all=True)])


class TestPowerRestore(unittest.TestCase):

    def test_table(self):
        f = decisions.power_restore_action
        self.assertEqual('start', f('ACTIVE', 'SHUTOFF'))
        self.assertIsNone(f('ACTIVE', 'ACTIVE'))
        self.assertEqual('stop', f('SHUTOFF', 'ACTIVE'))
        self.assertIsNone(f('SHUTOFF', 'SHUTOFF'))
        self.assertEqual('reset_error', f('ERROR', 'SHUTOFF'))
        self.assertIsNone(f('ERROR', 'ERROR'))


class TestRestartDecision(unittest.TestCase):

    def test_table(self):
        f = decisions.vm_restart_decision
        self.assertEqual('start', f('SHUTOFF', None, 0, 3).action)
        self.assertEqual('hard_reboot', f('ACTIVE', None, 2, 3).action)
        self.assertIsNone(f('SHUTOFF', None, 0, 3, user_stopped=True).action)
        self.assertIsNone(f('SHUTOFF', 'powering-on', 0, 3).action)
        d = f('SHUTOFF', None, 3, 3)
        self.assertTrue(d.escalate)
        self.assertIsNone(d.action)


class TestMoveScheduling(unittest.TestCase):
    """Which moves count against max_concurrent_evacuations."""

    def test_only_moves_not_yet_claimed_by_a_target_count(self):
        from nova_ha.notifier import recovery

        def move(phase='evacuating', status=None):
            return recovery._Move({'id': 'x'}, 'evacuate:x', None, 0.0,
                                  phase=phase, nova_status=status)
        self.assertTrue(move().scheduling)            # request just sent
        self.assertTrue(move(status='accepted').scheduling)
        self.assertFalse(move(status='pre-migrating').scheduling)
        self.assertFalse(move(status='done').scheduling)
        self.assertFalse(move(phase='restoring').scheduling)


class TestStatusOfVmState(unittest.TestCase):

    def test_states_an_evacuated_vm_arrives_in(self):
        self.assertEqual(
            [decisions.ACTIVE, decisions.SHUTOFF, decisions.ERROR,
             'PAUSED', 'UNKNOWN'],
            [decisions.status_of_vm_state(s)
             for s in ('active', 'stopped', 'error', 'paused', None)])
