"""``nova-ha capacity plan --hosts N`` end to end (no cloud needed), and
the argument types the capacity commands share.

The commands are found through the installed ``nova_ha.cli`` entry points
(setup.cfg), as the console script finds them.
"""

import argparse
import contextlib
import io
import json
import os
import tempfile
import unittest

from nova_ha.capacity import cli as capacity_cli
from nova_ha.cmd import cli

# The planner's reference case (tests/unit/capacity/test_planner.py):
# N = 2, MTBF 900 h, MTTR 100 h, R = 36 s = 0.01 h.
REFERENCE = ['--hosts', '2', '--mtbf', '900h', '--mttr', '100h',
             '--recovery-time', '36s']


def run_cli(*args):
    with tempfile.TemporaryDirectory() as tmp:
        config = os.path.join(tmp, 'nova-ha.conf')
        open(config, 'w').close()
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(['--config-file', config] + list(args))
            except SystemExit as exc:   # argparse usage errors
                rc = exc.code
    return rc, out.getvalue(), err.getvalue()


class TestPlanCommand(unittest.TestCase):

    def test_json_rows_and_recommendation(self):
        rc, out, err = run_cli('capacity', 'plan', *REFERENCE,
                               '--target', '99', '-f', 'json')
        self.assertEqual(0, rc, err)
        rows = json.loads(out)
        self.assertEqual([0, 1, 2, 3], [r['Reserved'] for r in rows])
        self.assertEqual([2], [r['Reserved'] for r in rows
                               if r['Recommended']])
        # Hand values: 89.999 %, 98.549 %, 99.809 %, 99.9755 %.
        self.assertEqual([89.999, 98.549, 99.809, 99.9755],
                         [r['Availability %'] for r in rows])
        self.assertEqual(0.028, rows[1]['P(capacity short)'])
        self.assertIn('recommended: 2 reserved host(s)', err)
        self.assertIn('U(r) = R/(MTBF+MTTR)', err)

    def test_out_of_reach_target_exits_2_with_a_warning(self):
        rc, out, err = run_cli('capacity', 'plan', '--hosts', '2',
                               '--mtbf', '900h', '--mttr', '100h',
                               '--recovery-time', '20h', '--target', '99',
                               '-f', 'csv')
        self.assertEqual(capacity_cli.WARNING_EXIT, rc, err)
        self.assertIn('WARNING: the target is out of reach', err)
        self.assertTrue(out.startswith('"Reserved","Covers failures"'), out)

    def test_nonsense_is_an_error_not_a_traceback(self):
        rc, _out, err = run_cli('capacity', 'plan', '--hosts', '2',
                                '--mtbf', '900h', '--mttr', '1h',
                                '--recovery-time', '2h')
        self.assertEqual(1, rc)
        self.assertIn('must be shorter than MTTR', err)
        self.assertNotIn('Traceback', err)

    def test_model_inputs_are_required(self):
        rc, _out, err = run_cli('capacity', 'plan', '--hosts', '2')
        self.assertEqual(2, rc)     # argparse's usage error
        self.assertIn('--mtbf', err)


class TestArgumentTypes(unittest.TestCase):

    def test_durations(self):
        self.assertEqual(300.0, capacity_cli.duration('5m'))
        self.assertEqual(36.0, capacity_cli.duration('36s'))
        self.assertEqual(2 * 365.25 * 86400, capacity_cli.duration('2y'))
        self.assertEqual(1.5 * 3600, capacity_cli.duration('1.5h'))
        for bad in ('5', 'five minutes', '-1h', ''):
            with self.assertRaises(argparse.ArgumentTypeError):
                capacity_cli.duration(bad)

    def test_availabilities(self):
        for text in ('99.99', '99.99%', '0.9999'):
            self.assertAlmostEqual(0.9999, capacity_cli.availability(text),
                                   places=12)
        for bad in ('100', '0', 'high', '150%'):
            with self.assertRaises(argparse.ArgumentTypeError):
                capacity_cli.availability(bad)
