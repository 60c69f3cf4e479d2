"""Who waits for the storm guard: the settle windows' clock rule."""

import unittest

from nova_ha.notifier import storm


class TestSettleWindows(unittest.TestCase):

    def test_first_report_of_a_segment_is_judged_at_once(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        self.assertEqual(0.0, windows.delay('seg-a', now=100.0))

    def test_later_reports_wait_the_settle_time_from_their_arrival(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        self.assertEqual(1.0, windows.delay('seg-a', now=100.3))
        self.assertEqual(1.0, windows.delay('seg-a', now=100.99))

    def test_a_run_of_close_reports_is_one_storm(self):
        # Each report within the settle time of the one before: however
        # long the run, only its first report skips the wait.
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        for now in (100.9, 101.8, 102.7):
            self.assertEqual(1.0, windows.delay('seg-a', now=now))

    def test_segments_have_their_own_runs(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        self.assertEqual(0.0, windows.delay('seg-b', now=100.2))

    def test_a_report_after_a_quiet_settle_time_starts_a_new_run(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        self.assertEqual(0.0, windows.delay('seg-a', now=101.0))
        self.assertEqual(1.0, windows.delay('seg-a', now=101.5))

    def test_burst_sets_how_many_are_judged_at_once(self):
        windows = storm.SettleWindows(settle_time=2.0, burst=2)
        self.assertEqual(0.0, windows.delay('seg-a', now=10.0))
        self.assertEqual(0.0, windows.delay('seg-a', now=10.5))
        self.assertEqual(2.0, windows.delay('seg-a', now=11.0))

    def test_burst_zero_is_the_strict_rule(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=0)
        for now in (10.0, 10.99, 11.2):
            self.assertEqual(1.0, windows.delay('seg-a', now=now))

    def test_a_host_fencing_cannot_power_off_always_waits(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        self.assertEqual(1.0, windows.delay('seg-a', now=10.0,
                                            may_skip=False))
        # ... and its report opened the run: the next one waits too.
        self.assertEqual(1.0, windows.delay('seg-a', now=10.5))

    def test_no_settle_time_means_no_wait(self):
        windows = storm.SettleWindows(settle_time=0.0, burst=0)
        self.assertEqual(0.0, windows.delay('seg-a', now=10.0))
        self.assertEqual(0.0, windows.delay('seg-a', now=10.0))
