"""The cached membership view: what is_up and the engine's events rely on."""

import unittest

from nova_ha.servicegroup import membership as m

DOWN_TIME = 2.0


class TestMembershipTracker(unittest.TestCase):

    def setUp(self):
        self.t = m.MembershipTracker(DOWN_TIME)

    def test_nothing_read_yet_is_unknown(self):
        self.assertEqual(m.UNKNOWN, self.t.state('h1', 0.0))

    def test_member_is_up_and_its_absence_is_down(self):
        self.assertEqual([('h1', m.UP, 0.0, 'joined')],
                         self.t.observe({'h1'}, 0.0))
        self.assertEqual(m.UP, self.t.state('h1', 0.1))
        changes = self.t.observe(set(), 0.5)
        self.assertEqual([('h1', m.DOWN)], [c[:2] for c in changes])
        self.assertAlmostEqual(0.5, changes[0][2])
        self.assertEqual(m.DOWN, self.t.state('h1', 0.6))
        # Reported once, not at every read.
        self.assertEqual([], self.t.observe(set(), 0.75))

    def test_host_back_is_up_again(self):
        self.t.observe({'h1'}, 0.0)
        self.t.observe(set(), 1.0)
        self.assertEqual([('h1', m.UP, 0.0, 'heartbeating again')],
                         self.t.observe({'h1'}, 2.0))

    def test_never_seen_host_is_unknown_not_down(self):
        # A compute still on Nova's DB driver during a rollout, or dead
        # before this process started: Nova's own rule answers.
        self.t.observe({'h1'}, 0.0)
        self.assertEqual(m.UNKNOWN, self.t.state('h2', 0.1))

    def test_unreadable_backend_makes_everyone_unknown_never_down(self):
        self.t.observe({'h1', 'h2'}, 0.0)
        self.t.observe_failure(0.25)
        # A short glitch keeps the last view.
        self.assertEqual(m.UP, self.t.state('h1', 1.0))
        self.assertFalse(self.t.observe_failure(1.0))
        self.assertEqual(m.UNKNOWN, self.t.state('h1', DOWN_TIME + 0.1))
        self.assertEqual({'h1': m.UNKNOWN, 'h2': m.UNKNOWN},
                         self.t.hosts(DOWN_TIME + 0.1))

    def test_absences_right_after_an_outage_are_not_believed(self):
        self.t.observe({'h1', 'h2'}, 0.0)
        self.t.observe_failure(1.0)
        # Back, but h2 has not re-joined yet: no mass down.
        self.assertEqual([], self.t.observe({'h1'}, 5.0))
        self.assertEqual(m.UP, self.t.state('h2', 5.1))
        self.assertEqual([], self.t.observe({'h1', 'h2'}, 5.5))
        # A real death after the settling window is reported.
        changes = self.t.observe({'h1'}, 5.0 + DOWN_TIME + 0.1)
        self.assertEqual([('h2', m.DOWN)], [c[:2] for c in changes])

    def test_host_still_absent_after_settling_is_down(self):
        self.t.observe({'h1', 'h2'}, 0.0)
        self.t.observe_failure(1.0)
        self.t.observe({'h1'}, 5.0)
        changes = self.t.observe({'h1'}, 5.0 + DOWN_TIME)
        self.assertEqual([('h2', m.DOWN)], [c[:2] for c in changes])

    def test_group_vanishing_is_settled_then_believed(self):
        # A backend restarted empty: members need a moment to re-join.
        self.t.observe({'h1'}, 0.0)
        self.assertEqual([], self.t.observe_group_missing(0.25))
        self.assertEqual(m.UP, self.t.state('h1', 0.3))
        self.assertEqual([], self.t.observe_group_missing(1.0))
        changes = self.t.observe_group_missing(0.25 + DOWN_TIME)
        self.assertEqual([('h1', m.DOWN)], [c[:2] for c in changes])

    def test_group_never_created_is_an_empty_group(self):
        self.assertEqual([], self.t.observe_group_missing(0.0))
        self.assertTrue(self.t.backend_ok(0.1))
        self.assertEqual(m.UNKNOWN, self.t.state('h1', 0.1))
