import collections
import unittest

from nova_ha.model import aggregates as agg

Agg = collections.namedtuple('Agg', 'name metadata')


def view(*aggs):
    return agg.host_view([Agg(name, md) for name, md in aggs])


class TestHostView(unittest.TestCase):

    def test_no_metadata_is_no_ha(self):
        self.assertIs(agg.NO_HA, view(('az1', {})))
        v = view(('gpu', {'gpu': 'yes'}))
        self.assertIsNone(v.segment)
        self.assertFalse(v.reserved)
        self.assertEqual((), v.problems)

    def test_segment_with_defaults(self):
        v = view(('seg-a', {'ha:segment': 'A'}))
        self.assertEqual(agg.Segment('A'), v.segment)
        self.assertEqual(agg.RecoveryMethod.RH_PRIORITY,
                         v.segment.recovery_method)
        self.assertTrue(v.segment.enabled)
        self.assertFalse(v.segment.evacuate_all)
        self.assertFalse(v.reserved)

    def test_segment_policy(self):
        v = view(('seg-a', {'ha:segment': 'A',
                            'ha:recovery_method': 'Auto_Priority',
                            'ha:enabled': 'False',
                            'ha:evacuate_all': 'yes'}))
        self.assertEqual(agg.Segment('A', agg.RecoveryMethod.AUTO_PRIORITY,
                                     enabled=False, evacuate_all=True),
                         v.segment)
        self.assertEqual((), v.problems)

    def test_reserved_needs_a_segment(self):
        v = view(('spares', {'ha:reserved': 'true'}))
        self.assertFalse(v.reserved)
        self.assertIn('is in no segment', v.problems[0])
        v = view(('spares', {'ha:reserved': 'true'}),
                 ('seg-a', {'ha:segment': 'A'}))
        self.assertTrue(v.reserved)
        self.assertEqual('A', v.segment_name)

    def test_maintenance_host_is_never_reserved(self):
        v = view(('spares', {'ha:reserved': 'true'}),
                 ('seg-a', {'ha:segment': 'A'}),
                 ('maint', {'ha:maintenance': 'true'}))
        self.assertTrue(v.maintenance)
        self.assertFalse(v.reserved)

    def test_two_segments_is_a_conflict(self):
        v = view(('seg-a', {'ha:segment': 'A'}),
                 ('seg-b', {'ha:segment': 'B'}),
                 ('spares', {'ha:reserved': 'true'}))
        self.assertIsNone(v.segment)
        self.assertTrue(v.segment_conflict)
        # The reserved mark still protects the capacity.
        self.assertTrue(v.reserved)
        self.assertIn('host is in 2 segments (A, B)', v.problems[0])

    def test_same_segment_through_two_aggregates_is_fine(self):
        v = view(('seg-a', {'ha:segment': 'A'}),
                 ('seg-a-rack2', {'ha:segment': 'A'}))
        self.assertEqual('A', v.segment_name)
        self.assertEqual((), v.problems)

    def test_empty_segment_name_is_a_conflict(self):
        v = view(('seg', {'ha:segment': '  '}))
        self.assertTrue(v.segment_conflict)
        self.assertIn('is empty', v.problems[0])

    def test_unknown_recovery_method_falls_back(self):
        v = view(('seg-a', {'ha:segment': 'A',
                            'ha:recovery_method': 'fastest'}))
        self.assertEqual(agg.DEFAULT_RECOVERY_METHOD,
                         v.segment.recovery_method)
        self.assertIn("'fastest' is not one of auto, reserved_host, "
                      "auto_priority, rh_priority", v.problems[0])

    def test_disagreeing_policies_fall_back(self):
        v = view(('seg-a', {'ha:segment': 'A', 'ha:enabled': 'false'}),
                 ('seg-a2', {'ha:segment': 'A', 'ha:enabled': 'true'}))
        self.assertTrue(v.segment.enabled)
        self.assertIn('aggregates disagree on ha:enabled', v.problems[0])

    def test_malformed_booleans_take_their_safe_fallbacks(self):
        v = view(('seg-a', {'ha:segment': 'A', 'ha:enabled': 'nope',
                            'ha:evacuate_all': 'all'}),
                 ('spares', {'ha:reserved': 'sure'}),
                 ('maint', {'ha:maintenance': 'later'}))
        self.assertTrue(v.segment.enabled)
        self.assertFalse(v.segment.evacuate_all)
        self.assertTrue(v.reserved)
        self.assertFalse(v.maintenance)
        self.assertEqual(4, len(v.problems))


class TestHostViewOf(unittest.TestCase):
    """A host's view from every aggregate of the cloud."""

    HostAgg = collections.namedtuple('HostAgg', 'name metadata hosts')

    def test_only_the_hosts_aggregates_count(self):
        aggregates = [
            self.HostAgg('seg-a', {'ha:segment': 'A'}, ('a1', 'a2')),
            self.HostAgg('spare', {'ha:reserved': 'true'}, ('a2',)),
            self.HostAgg('maint', {'ha:maintenance': 'true'}, ('b1',)),
        ]
        a1 = agg.host_view_of(aggregates, 'a1')
        self.assertEqual('A', a1.segment_name)
        self.assertFalse(a1.reserved)
        self.assertFalse(a1.maintenance)
        self.assertTrue(agg.host_view_of(aggregates, 'a2').reserved)
        self.assertTrue(agg.host_view_of(aggregates, 'b1').maintenance)
        self.assertIs(agg.NO_HA, agg.host_view_of(aggregates, 'c1'))


class TestRecoveryMethod(unittest.TestCase):

    def test_target_sets(self):
        M = agg.RecoveryMethod
        self.assertEqual(
            {'auto': (False, True, False),
             'reserved_host': (True, False, True),
             'auto_priority': (True, True, False),
             'rh_priority': (True, True, True)},
            {m.value: (m.uses_reserved_hosts, m.uses_ordinary_hosts,
                       m.prefers_reserved_hosts) for m in M})


class TestFencingLadder(unittest.TestCase):

    def test_default_ladder(self):
        v = view(('seg-a', {'ha:segment': 'A'}))
        self.assertEqual(('bmc', 'watchdog', 'operator'), v.segment.fencing)

    def test_ladder_as_written(self):
        v = view(('seg-a', {'ha:segment': 'A',
                            'ha:fencing': ' BMC, operator '}))
        self.assertEqual(('bmc', 'operator'), v.segment.fencing)
        self.assertEqual((), v.problems)

    def test_bad_ladders_fall_back_to_rungs_without_timings(self):
        for bad in ('bmc,stonith', '', 'bmc,bmc'):
            v = view(('seg-a', {'ha:segment': 'A', 'ha:fencing': bad}))
            self.assertEqual(agg.SAFE_FENCING, v.segment.fencing)
            self.assertIn('ha:fencing', v.problems[0])
