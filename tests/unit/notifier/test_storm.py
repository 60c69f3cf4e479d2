"""Who waits for the storm guard: the settle windows' clock rule."""

import unittest

from nova_ha.notifier import storm


def delays(reports, settle_time=1.0, burst=1):
    """The wait of each report, given as (time) or (time, segment)."""
    windows = storm.SettleWindows(settle_time=settle_time, burst=burst)
    out = []
    for report in reports:
        now, segment = report if isinstance(report, tuple) else (report,
                                                                  'seg-a')
        out.append(windows.delay(segment, now=now))
    return out


class TestSettleWindows(unittest.TestCase):

    def test_first_report_of_a_segment_is_judged_at_once(self):
        self.assertEqual([0.0], delays([100.0]))

    def test_later_reports_wait_the_settle_time_from_their_arrival(self):
        self.assertEqual([0.0, 1.0, 1.0], delays([100.0, 100.3, 100.99]))

    def test_a_run_of_close_reports_is_one_storm(self):
        # Each report within the settle time of the one before: however
        # long the run, only its first report skips the wait.
        self.assertEqual([0.0, 1.0, 1.0, 1.0],
                         delays([100.0, 100.9, 101.8, 102.7]))

    def test_segments_have_their_own_runs(self):
        self.assertEqual([0.0, 0.0],
                         delays([(100.0, 'seg-a'), (100.2, 'seg-b')]))

    def test_a_report_after_a_quiet_settle_time_starts_a_new_run(self):
        self.assertEqual([0.0, 0.0, 1.0], delays([100.0, 101.0, 101.5]))

    def test_burst_sets_how_many_are_judged_at_once(self):
        self.assertEqual([0.0, 0.0, 2.0], delays([10.0, 10.5, 11.0],
                                                 settle_time=2.0, burst=2))

    def test_burst_zero_is_the_strict_rule(self):
        self.assertEqual([1.0, 1.0, 1.0],
                         delays([10.0, 10.99, 11.2], burst=0))

    def test_a_host_fencing_cannot_power_off_always_waits(self):
        windows = storm.SettleWindows(settle_time=1.0, burst=1)
        self.assertEqual(1.0, windows.delay('seg-a', now=10.0,
                                            may_skip=False))
        # ... and its report opened the run: the next one waits too.
        self.assertEqual(1.0, windows.delay('seg-a', now=10.5))

    def test_no_settle_time_means_no_wait(self):
        self.assertEqual([0.0, 0.0], delays([10.0, 10.0], settle_time=0.0,
                                            burst=0))
