"""The pure judgements of nova_ha.engine.decisions."""

import unittest

from nova_ha.engine import decisions


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

    def test_ladder(self):
        # restart -> hard reboot -> migrate -> a person
        f = decisions.vm_restart_decision
        steps = [f('SHUTOFF', None, n, 3, can_migrate=True)
                 for n in range(5)]
        self.assertEqual(['start', 'hard_reboot', 'hard_reboot', 'migrate',
                          None], [d.action for d in steps])
        self.assertTrue(steps[4].escalate)
        self.assertFalse(steps[3].escalate)
        # Nova busy: wait, whatever the step
        self.assertIsNone(f('ACTIVE', 'migrating', 3, 3,
                            can_migrate=True).action)
