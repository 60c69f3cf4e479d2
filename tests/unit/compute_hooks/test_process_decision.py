"""The process monitor's decision core, as scenarios on a virtual clock.

Each scenario is a list of steps at given times: a check's reading (up,
down, unknown) or the end of a restart command (ok / failed), with the
actions the core must answer.  Pure and fast: no process, no thread.
"""

import unittest

from nova_ha.compute_hooks import process_decision as d

POLICY = d.RestartPolicy(confirm_checks=2, max_restarts=3,
                         restart_window=100.0, backoff_initial=2.0,
                         backoff_factor=3.0, backoff_max=5.0,
                         start_timeout=10.0)

RESTARTED_OK = 'restart-ok'
RESTART_FAILED = 'restart-failed'


class Scenario(unittest.TestCase):

    def run_steps(self, steps, policy=POLICY, watch=None):
        """Run (time, input, expected action kinds) steps on a watch."""
        watch = watch or d.ProcessWatch(policy)
        for number, (now, step, expected) in enumerate(steps):
            if step in (RESTARTED_OK, RESTART_FAILED):
                actions = watch.restart_finished(step == RESTARTED_OK, now)
            else:
                actions = watch.observe(step, now, 'detail %d' % number)
            self.assertEqual(expected, [a.kind for a in actions],
                             'step %d at t=%s (%s): %r' % (number, now, step,
                                                           watch))
        return watch

    def start_up(self, watch=None):
        """The common opening: seen up at start, reported once."""
        return self.run_steps([(0, d.UP, []), (1, d.UP, [d.REPORT_UP])],
                              watch=watch)


class TestConfirmation(Scenario):

    def test_first_confirmed_up_is_reported_once(self):
        # A previous monitor may have reported it down before a reboot.
        watch = self.start_up()
        self.run_steps([(2, d.UP, []), (3, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_one_down_reading_is_no_failure(self):
        watch = self.start_up()
        self.run_steps([(2, d.DOWN, []), (3, d.UP, []), (4, d.DOWN, []),
                        (5, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_unknown_readings_never_restart_or_report(self):
        watch = self.start_up()
        self.run_steps([(t, d.UNKNOWN, []) for t in range(2, 50)],
                       watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_unknown_between_downs_neither_confirms_nor_resets(self):
        watch = self.start_up()
        self.run_steps([(2, d.DOWN, []), (3, d.UNKNOWN, []),
                        (4, d.DOWN, [d.RESTART])], watch=watch)

    def test_confirmation_count_is_configurable(self):
        policy = d.RestartPolicy(confirm_checks=3, max_restarts=1)
        self.run_steps([(0, d.DOWN, []), (1, d.DOWN, []),
                        (2, d.DOWN, [d.RESTART])], policy=policy)

    def test_down_at_monitor_start_is_restarted(self):
        self.run_steps([(0, d.DOWN, []), (1, d.DOWN, [d.RESTART])])


class TestRestart(Scenario):

    def test_restart_that_works_reports_nothing(self):
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]), (4, RESTARTED_OK, []),
            (5, d.UP, []), (6, d.UP, []), (7, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)
        self.assertEqual(1, watch.restarts_in_window(7))

    def test_slow_start_within_start_timeout_is_success(self):
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]), (4, RESTARTED_OK, []),
            # Pid file not written yet, unit still starting...
            (5, d.DOWN, []), (6, d.DOWN, []), (7, d.UNKNOWN, []),
            (8, d.DOWN, []), (12, d.UP, []), (13, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_failed_restart_command_but_process_up_is_success(self):
        # systemctl may time out although the unit did start: the readings
        # decide, never the command's exit status alone.
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]),
            (4, RESTART_FAILED, []), (5, d.UP, []), (6, d.UP, [])],
            watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_one_up_reading_after_restart_is_not_yet_success(self):
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]), (4, RESTARTED_OK, []),
            (5, d.UP, []), (6, d.DOWN, []), (7, d.UP, [])], watch=watch)
        self.assertEqual(d.VERIFYING, watch.phase)

    def test_not_up_within_start_timeout_is_a_failed_attempt(self):
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]), (4, RESTARTED_OK, []),
            (9, d.DOWN, []), (13.9, d.DOWN, []),
            # start_timeout (10 s) after the command returned at 4; the
            # second restart waits backoff_initial (2 s).
            (14, d.DOWN, []), (15, d.DOWN, []),
            (16, d.DOWN, [d.RESTART])], watch=watch)

    def test_process_back_on_its_own_during_backoff_is_not_restarted(self):
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]),
            (4, RESTART_FAILED, []), (5, d.DOWN, []),
            (6, d.DOWN, []),                     # 2nd failure: backoff 2 s
            (7, d.UP, []), (8, d.UP, []),        # systemd brought it back
            (9, d.UP, []), (20, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_unknown_when_restart_is_due_waits_for_a_down(self):
        watch = self.start_up()
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]),
            (4, RESTART_FAILED, []), (5, d.DOWN, []), (6, d.DOWN, []),
            (8, d.UNKNOWN, []), (9, d.UNKNOWN, []),
            (10, d.DOWN, [d.RESTART])], watch=watch)

    def test_wake_at_names_the_moments_that_matter(self):
        watch = self.start_up()
        self.assertIsNone(watch.wake_at())
        self.run_steps([(2, d.DOWN, []), (3, d.DOWN, [d.RESTART]),
                        (4, RESTART_FAILED, [])], watch=watch)
        self.assertEqual(14, watch.wake_at())          # start_timeout
        self.run_steps([(5, d.DOWN, []), (6, d.DOWN, [])], watch=watch)
        self.assertEqual(8, watch.wake_at())           # backoff
        self.assertEqual('failed, restart in 1.5s', d.describe(watch, 6.5))


class TestGivingUp(Scenario):

    def fail_every_restart(self, watch, start):
        """Three failed attempts with growing backoff, then the report."""
        t = start
        steps = [(t, d.DOWN, []), (t + 1, d.DOWN, [d.RESTART]),
                 (t + 1, RESTART_FAILED, []),
                 (t + 2, d.DOWN, []), (t + 3, d.DOWN, []),
                 # backoff 2 s after the failure seen at t+3
                 (t + 4, d.DOWN, []), (t + 5, d.DOWN, [d.RESTART]),
                 (t + 5, RESTART_FAILED, []),
                 (t + 6, d.DOWN, []), (t + 7, d.DOWN, []),
                 # backoff 2*3 = 6 s, capped at backoff_max 5 s
                 (t + 11.9, d.DOWN, []), (t + 12, d.DOWN, [d.RESTART]),
                 (t + 12, RESTART_FAILED, []),
                 (t + 13, d.DOWN, []),
                 (t + 14, d.DOWN, [d.REPORT_DOWN])]
        return self.run_steps(steps, watch=watch)

    def test_bounded_restarts_with_backoff_then_one_report(self):
        watch = self.fail_every_restart(self.start_up(), 2)
        self.assertEqual(d.GAVE_UP, watch.phase)
        # Down forever: never restarted again, never reported again.
        self.run_steps([(t, d.DOWN, []) for t in range(17, 400, 3)],
                       watch=watch)

    def test_back_after_giving_up_is_reported_up_once(self):
        watch = self.fail_every_restart(self.start_up(), 2)
        self.run_steps([(20, d.UP, []), (21, d.UP, [d.REPORT_UP]),
                        (22, d.UP, []), (23, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_flapping_within_window_is_reported_down_again_at_once(self):
        watch = self.fail_every_restart(self.start_up(), 2)
        self.run_steps([(20, d.UP, []), (21, d.UP, [d.REPORT_UP]),
                        (30, d.DOWN, []), (31, d.DOWN, [d.REPORT_DOWN])],
                       watch=watch)

    def test_restarts_age_out_of_the_window(self):
        watch = self.fail_every_restart(self.start_up(), 2)
        self.run_steps([(20, d.UP, []), (21, d.UP, [d.REPORT_UP])],
                       watch=watch)
        # The three restarts (t=3, 7, 14) leave the 100 s window.
        self.assertEqual(0, watch.restarts_in_window(115))
        self.run_steps([(200, d.DOWN, []), (201, d.DOWN, [d.RESTART])],
                       watch=watch)

    def test_max_restarts_zero_only_watches_and_reports(self):
        policy = d.RestartPolicy(confirm_checks=2, max_restarts=0)
        watch = self.run_steps([
            (0, d.UP, []), (1, d.UP, [d.REPORT_UP]), (2, d.DOWN, []),
            (3, d.DOWN, [d.REPORT_DOWN]), (4, d.DOWN, []),
            (5, d.UP, []), (6, d.UP, [d.REPORT_UP])], policy=policy)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_restart_without_verification_fails_after_timeout_too(self):
        # A restart command that exits 0 and starts nothing.
        policy = d.RestartPolicy(confirm_checks=1, max_restarts=1,
                                 start_timeout=5.0)
        self.run_steps([
            (0, d.DOWN, [d.RESTART]), (0, RESTARTED_OK, []),
            (1, d.DOWN, []), (4.9, d.DOWN, []),
            (5, d.DOWN, [d.REPORT_DOWN]), (6, d.DOWN, [])], policy=policy)

    def test_report_reason_says_what_happened(self):
        policy = d.RestartPolicy(confirm_checks=1, max_restarts=0)
        (action,) = d.ProcessWatch(policy).observe(
            d.DOWN, 0, 'no pid file /run/x.pid')
        self.assertEqual('down (no pid file /run/x.pid); not restarted '
                         '(max_restarts = 0)', action.reason)


class TestPolicy(unittest.TestCase):

    def test_backoff_sequence(self):
        self.assertEqual([0.0, 2.0, 5.0, 5.0],
                         [POLICY.backoff(n) for n in range(4)])
        policy = d.RestartPolicy(backoff_initial=1, backoff_factor=2,
                                 backoff_max=60)
        self.assertEqual([0.0, 1, 2, 4, 8],
                         [policy.backoff(n) for n in range(5)])

    def test_nonsense_is_refused(self):
        for bad in ({'confirm_checks': 0}, {'max_restarts': -1},
                    {'backoff_factor': 0.5}, {'start_timeout': -1}):
            with self.assertRaises(ValueError, msg=bad):
                d.RestartPolicy(**bad)

    def test_unknown_observation_is_a_bug(self):
        with self.assertRaises(ValueError):
            d.ProcessWatch(POLICY).observe('maybe', 0)

    def test_restart_finished_without_restart_is_a_bug(self):
        with self.assertRaises(RuntimeError):
            d.ProcessWatch(POLICY).restart_finished(True, 0)


class TestCrashLoop(Scenario):
    """A process that dies as soon as it is started (a nova-compute that
    cannot read its configuration) is reported within 30 s of the loop's
    start with the monitor's defaults: a restart that leaves it down past
    start_grace has failed, whatever start_timeout allows a slow one."""

    def test_crash_loop_is_reported_within_30_seconds(self):
        watch = self.start_up(d.ProcessWatch(d.RestartPolicy()))
        now, reported = 2.0, None
        while now < 200 and reported is None:
            for action in watch.observe(d.DOWN, now):
                if action.kind == d.REPORT_DOWN:
                    reported = now
            if watch.phase == d.RESTARTING:
                # systemctl returns within a second; the process dies.
                watch.restart_finished(True, now + 0.5)
            now += 2.0                       # check_interval
        self.assertIsNotNone(reported)
        self.assertLessEqual(reported - 2.0, 30.0,
                             'reported %.0f s after the loop started'
                             % (reported - 2.0))

    def test_down_within_start_grace_is_a_slow_start(self):
        policy = d.RestartPolicy(start_grace=5.0, start_timeout=60.0)
        watch = self.start_up(d.ProcessWatch(policy))
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]), (4, RESTARTED_OK, []),
            (5, d.DOWN, []), (6, d.DOWN, []), (8, d.DOWN, []),
            (9.5, d.UP, []), (10, d.UP, [])], watch=watch)
        self.assertEqual(d.RUNNING, watch.phase)

    def test_down_past_start_grace_is_a_failed_attempt(self):
        policy = d.RestartPolicy(start_grace=5.0, start_timeout=60.0,
                                 backoff_initial=2.0)
        watch = self.start_up(d.ProcessWatch(policy))
        self.run_steps([
            (2, d.DOWN, []), (3, d.DOWN, [d.RESTART]), (4, RESTARTED_OK, []),
            (6, d.DOWN, []), (8, d.DOWN, []),
            (10, d.DOWN, []),            # 6 s after the start: failed
            (12, d.DOWN, [d.RESTART])], watch=watch)
