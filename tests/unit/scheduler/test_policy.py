"""The placement rule book, case by case (pure functions, no Nova)."""

import unittest

from nova_ha.model import aggregates as agg
from nova_ha.scheduler import policy
from nova_ha.scheduler.request import RequestFacts
from nova_ha.scheduler.request import RequestKind


def seg(name, method='rh_priority'):
    return agg.Segment(name, agg.RecoveryMethod(method))


def host(segment=None, reserved=False, conflict=False):
    return agg.HostHAView(segment=segment, reserved=reserved,
                          segment_conflict=conflict)


def failover_from(segment=None, conflict=False):
    return RequestFacts(RequestKind.FAILOVER, 'uuid', 'src',
                        host(segment, conflict=conflict))


def move_from(segment=None):
    return RequestFacts(RequestKind.MOVE, 'uuid', 'src', host(segment))


BOOT = RequestFacts(RequestKind.PLACEMENT, 'uuid')
UNKNOWN = RequestFacts(RequestKind.UNKNOWN, 'uuid')
A, B = seg('A'), seg('B')


class TestReservedCapacity(unittest.TestCase):

    def check(self, facts, candidate):
        return policy.reserved_capacity(lambda: facts, candidate).passes

    def test_ordinary_hosts_never_read_the_request(self):
        def explode():
            raise AssertionError('facts read for an ordinary host')
        self.assertTrue(policy.reserved_capacity(explode, host(A)).passes)

    def test_only_failovers_from_own_segment(self):
        spare_a = host(A, reserved=True)
        self.assertFalse(self.check(BOOT, spare_a))
        self.assertFalse(self.check(move_from(A), spare_a))
        self.assertFalse(self.check(UNKNOWN, spare_a))
        self.assertFalse(self.check(failover_from(B), spare_a))
        self.assertFalse(self.check(failover_from(None), spare_a))
        self.assertTrue(self.check(failover_from(A), spare_a))

    def test_auto_method_never_uses_reserved_hosts(self):
        self.assertFalse(self.check(failover_from(seg('A', 'auto')),
                                    host(seg('A', 'auto'), reserved=True)))

    def test_ambiguous_segments_refuse(self):
        self.assertFalse(self.check(failover_from(A, conflict=True),
                                    host(A, reserved=True)))
        self.assertFalse(self.check(failover_from(A),
                                    host(None, reserved=True,
                                         conflict=True)))


class TestSegmentBoundary(unittest.TestCase):

    def check(self, facts, candidate, confine_all_moves=True,
              unsegmented_failover='unsegmented'):
        return policy.segment_boundary(facts, candidate, confine_all_moves,
                                       unsegmented_failover).passes

    def test_placements_go_anywhere(self):
        for candidate in (host(), host(A), host(conflict=True)):
            self.assertTrue(self.check(BOOT, candidate))

    def test_failover_stays_in_segment(self):
        self.assertTrue(self.check(failover_from(A), host(A)))
        self.assertTrue(self.check(failover_from(A), host(A, reserved=True)))
        self.assertFalse(self.check(failover_from(A), host(B)))
        self.assertFalse(self.check(failover_from(A), host()))
        self.assertFalse(self.check(failover_from(A), host(conflict=True)))

    def test_moves_confined_unless_configured(self):
        self.assertFalse(self.check(move_from(A), host(B)))
        self.assertTrue(self.check(move_from(A), host(B),
                                   confine_all_moves=False))
        # Failovers are confined whatever the option says.
        self.assertFalse(self.check(failover_from(A), host(B),
                                    confine_all_moves=False))

    def test_unsegmented_source_fails_over_to_unsegmented_hosts(self):
        self.assertTrue(self.check(failover_from(None), host()))
        # A segment's hosts and reserved capacity are its own.
        self.assertFalse(self.check(failover_from(None), host(A)))
        self.assertFalse(self.check(failover_from(None),
                                    host(A, reserved=True)))
        self.assertTrue(self.check(failover_from(None), host(A),
                                   unsegmented_failover='any'))
        # Planned moves are the operator's to place.
        for candidate in (host(), host(A)):
            self.assertTrue(self.check(move_from(None), candidate))

    def test_ambiguous_source_goes_nowhere(self):
        for candidate in (host(), host(A), host(B)):
            self.assertFalse(self.check(failover_from(A, conflict=True),
                                        candidate))

    def test_reserved_host_method_needs_reserved_target(self):
        rh = seg('A', 'reserved_host')
        self.assertFalse(self.check(failover_from(rh), host(rh)))
        self.assertTrue(self.check(failover_from(rh),
                                   host(rh, reserved=True)))
        # A planned move is not a failover: ordinary hosts are fine.
        self.assertTrue(self.check(move_from(rh), host(rh)))

    def test_unknown_request_refuses_segment_hosts_only(self):
        self.assertFalse(self.check(UNKNOWN, host(A)))
        self.assertFalse(self.check(UNKNOWN, host(conflict=True)))
        self.assertTrue(self.check(UNKNOWN, host()))


class TestFailoverPreference(unittest.TestCase):

    def test_preference_per_method(self):
        expected = {'rh_priority': (1.0, 0.0), 'reserved_host': (1.0, 0.0),
                    'auto_priority': (0.0, 1.0), 'auto': (0.0, 1.0)}
        for method, (reserved_w, ordinary_w) in expected.items():
            s = seg('A', method)
            facts = failover_from(s)
            self.assertEqual(
                (reserved_w, ordinary_w),
                (policy.failover_preference(facts, host(s, reserved=True)),
                 policy.failover_preference(facts, host(s))), method)

    def test_no_preference_outside_failovers(self):
        self.assertEqual(0.0, policy.failover_preference(
            BOOT, host(A, reserved=True)))
        self.assertEqual(0.0, policy.failover_preference(
            failover_from(None), host(A, reserved=True)))
