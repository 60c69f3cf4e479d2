"""Who waits for the storm guard: the settle windows' clock rule."""

import unittest

from nova_ha.notifier import storm


class TestSettleWindows(unittest.TestCase):

    def test_first_report_of_a_segment_is_judged_at_once(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        self.assertEqual(0.0, windows.delay('seg-a', now=100.0))

    def test_later_reports_wait_for_the_end_of_the_window(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        self.assertAlmostEqual(0.7, windows.delay('seg-a', now=100.3))
        self.assertAlmostEqual(0.1, windows.delay('seg-a', now=100.9))

    def test_segments_have_their_own_windows(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        self.assertEqual(0.0, windows.delay('seg-b', now=100.2))

    def test_a_report_after_the_window_opens_a_new_one(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        windows.delay('seg-a', now=100.0)
        self.assertEqual(0.0, windows.delay('seg-a', now=101.0))
        self.assertAlmostEqual(0.5, windows.delay('seg-a', now=101.5))

    def test_burst_sets_how_many_are_judged_at_once(self):
        windows = storm.SettleWindows(settle_time=2.0, burst=2)
        self.assertEqual(0.0, windows.delay('seg-a', now=10.0))
        self.assertEqual(0.0, windows.delay('seg-a', now=10.5))
        self.assertAlmostEqual(1.0, windows.delay('seg-a', now=11.0))

    def test_burst_zero_makes_every_report_wait_the_whole_window(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=0)
        self.assertEqual(1.0, windows.delay('seg-a', now=10.0))
        self.assertAlmostEqual(0.6, windows.delay('seg-a', now=10.4))

    def test_no_settle_time_means_no_wait(self):
        windows = storm.SettleWindows(settle_time=0.0, burst=0)
        self.assertEqual(0.0, windows.delay('seg-a', now=10.0))
        self.assertEqual(0.0, windows.delay('seg-a', now=10.0))
