"""Tag/untag changes, segment summaries and the CLI's value checks."""

import collections
import contextlib
import io
import unittest

from nova_ha.cmd import cli
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers
from nova_ha.tagging import segments
from nova_ha.tagging import servers as tagging_servers

Aggregate = collections.namedtuple('Aggregate', 'id name hosts metadata')


class TestServerTags(unittest.TestCase):

    def test_tag_sets_enabled_and_priority(self):
        change = tagging_servers.tag(7)
        self.assertEqual({'ha:enabled': 'true', 'ha:priority': '7'},
                         change.set)
        self.assertEqual({'ha:enabled': 'true'}, tagging_servers.tag().set)

    def test_untag_removes_every_key_that_makes_the_vm_ha(self):
        metadata = {'ha:enabled': 'true', 'HA_Enabled': 'True',
                    'ha:priority': '3', 'owner': 'ops'}
        change = tagging_servers.untag(metadata)
        self.assertEqual(({}, ('ha:enabled', 'HA_Enabled', 'ha:priority')),
                         (change.set, change.delete))
        after = {k: v for k, v in metadata.items() if k not in change.delete}
        self.assertFalse(ha_servers.server_policy(after).enabled)

    def test_untag_in_an_evacuate_all_segment_opts_out(self):
        metadata = {'ha:priority': '3'}
        change = tagging_servers.untag(metadata, evacuate_all=True,
                                       segment='seg-a')
        self.assertEqual({'ha:enabled': 'false'}, change.set)
        self.assertEqual(('ha:priority',), change.delete)
        self.assertIn('seg-a', change.note)
        self.assertFalse(ha_servers.server_policy(
            change.set, evacuate_all=True).enabled)


class TestSegments(unittest.TestCase):

    AGGREGATES = [
        Aggregate('1', 'seg-a', ('a1', 'a2', 'spare'), {
            'ha:segment': 'seg-a', 'ha:recovery_method': 'auto'}),
        Aggregate('2', 'seg-a-more', ('a3',), {'ha:segment': 'seg-a',
                                               'ha:enabled': 'false'}),
        Aggregate('3', 'seg-b', ('b1', 'a2'), {'ha:segment': 'seg-b'}),
        Aggregate('4', 'reserved', ('spare',), {'ha:reserved': 'true'}),
        Aggregate('5', 'ha-maintenance', ('a1',),
                  {'ha:maintenance': 'true'}),
        Aggregate('6', 'az', ('a1', 'b1'), {}),
    ]

    def test_summary_per_segment(self):
        seg_a, seg_b = segments.summarize(self.AGGREGATES)
        self.assertEqual(('seg-a', ('seg-a', 'seg-a-more'), ('1', '2')),
                         (seg_a.name, seg_a.aggregates, seg_a.aggregate_ids))
        self.assertEqual(('a1', 'a2', 'a3', 'spare'), seg_a.hosts)
        self.assertEqual(('spare',), seg_a.reserved_hosts)
        self.assertEqual(('a1',), seg_a.maintenance_hosts)
        self.assertEqual((ha_aggregates.RecoveryMethod.AUTO, False),
                         (seg_a.policy.recovery_method, seg_a.policy.enabled))
        # a2 is in two segments: reported on both, as the model says.
        self.assertTrue(any(p.startswith('a2: host is in 2 segments')
                            for p in seg_a.problems), seg_a.problems)
        self.assertTrue(any(p.startswith('a2:') for p in seg_b.problems))

    def test_unknown_segment_lists_the_known_ones(self):
        with self.assertRaises(segments.UnknownSegment) as caught:
            segments.find(segments.summarize(self.AGGREGATES), 'seg-x')
        self.assertIn('segments: seg-a, seg-b', str(caught.exception))

    def test_segment_metadata_only_sets_what_is_given(self):
        self.assertEqual({}, segments.segment_metadata())
        self.assertEqual({'ha:recovery_method': 'reserved_host',
                          'ha:enabled': 'false',
                          'ha:evacuate_all': 'true'},
                         segments.segment_metadata('reserved_host', False,
                                                   True))
        with self.assertRaises(ValueError):
            segments.segment_metadata('fastest')


class TestValueChecks(unittest.TestCase):
    """Refused before Nova is asked anything: no cloud needed."""

    def run_cli(self, *args):
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), \
                contextlib.redirect_stderr(err):
            try:
                rc = cli.main(list(args))
            except SystemExit as exc:
                rc = exc.code
        return rc, err.getvalue()

    def test_unknown_recovery_method_lists_the_valid_ones(self):
        rc, err = self.run_cli('segment', 'set', 'seg-a',
                               '--recovery-method', 'fastest')
        self.assertEqual(2, rc)
        self.assertIn("argument --recovery-method: invalid choice: "
                      "'fastest' (choose from 'auto', 'reserved_host', "
                      "'auto_priority', 'rh_priority')", err)

    def test_contradictory_flags_are_refused(self):
        rc, err = self.run_cli('segment', 'set', 'seg-a', '--enabled',
                               '--disabled')
        self.assertEqual(2, rc)
        self.assertIn('not allowed with argument --enabled', err)

    def test_nothing_to_set_is_refused(self):
        rc, err = self.run_cli('segment', 'set', 'seg-a')
        self.assertEqual(1, rc)
        self.assertIn('nothing to set', err)

    def test_priority_must_be_a_whole_number(self):
        rc, err = self.run_cli('vm', 'tag', 'web', '--priority', 'high')
        self.assertEqual(2, rc)
        self.assertIn("'high' is not a whole number", err)
