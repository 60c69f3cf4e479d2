"""When to restart a watched process, when to give up, what to report.

Pure: observations (up, down, unknown) and the monotonic time come in,
actions come out; the checks, the restart command and the publishing are
the caller's (process_monitor.ProcessMonitor).  The rules an operator
relies on:

- a process is taken for down only after ``confirm_checks`` consecutive
  down readings, and for up only after as many up readings; an unknown
  reading (the check itself failed) neither confirms nor breaks a run;
- the first restart of a failure is immediate; the n-th restart within
  ``restart_window`` waits ``backoff_initial * backoff_factor ** (n - 2)``
  seconds (at most ``backoff_max``) after the failure was seen; a process
  that is not down (up or unknown) when its restart is due is never
  restarted;
- a restart succeeded only when the process is then seen up (confirmed)
  within ``start_timeout``; it failed when the process is confirmed down
  ``start_grace`` seconds after the command returned (it died at start: a
  crash loop is reported in seconds, not after start_timeout each time),
  or, whatever the time, after a restart command that failed;
- when a failure needs more than ``max_restarts`` restarts within the
  window, the watch gives up: process.down is reported once, and nothing
  is restarted until the process is seen up again, which is reported once
  as process.up;
- whether a down was reported before this watch started (the monitor
  itself restarted, or the host rebooted) is unknown, so the first
  confirmed up of a watch is reported as process.up too: the engine
  ignores it unless it disabled the service for a down it was told of.
"""

import collections
import dataclasses

UP = 'up'
DOWN = 'down'
UNKNOWN = 'unknown'

RESTART = 'restart'
REPORT_DOWN = 'report_down'
REPORT_UP = 'report_up'

# Phases of a watch.
STARTING = 'starting'      # nothing confirmed since the watch started
RUNNING = 'running'        # confirmed up
FAILED = 'failed'          # confirmed down, a restart is due at restart_due
RESTARTING = 'restarting'  # the restart command runs
VERIFYING = 'verifying'    # restarted, waiting to see it up
GAVE_UP = 'gave_up'        # reported down, waiting to see it up


@dataclasses.dataclass(frozen=True)
class RestartPolicy:
    confirm_checks: int = 2
    max_restarts: int = 3
    restart_window: float = 600.0
    backoff_initial: float = 2.0
    backoff_factor: float = 2.0
    backoff_max: float = 60.0
    start_timeout: float = 60.0
    start_grace: float = 5.0

    def __post_init__(self):
        if self.confirm_checks < 1:
            raise ValueError('confirm_checks must be at least 1')
        if self.max_restarts < 0:
            raise ValueError('max_restarts must not be negative')
        if min(self.restart_window, self.backoff_initial, self.backoff_max,
               self.start_timeout, self.start_grace) < 0 or self.backoff_factor < 1:
            raise ValueError('negative durations or a backoff_factor below '
                             '1 make no sense: %r' % (self,))

    def backoff(self, restarts_in_window):
        """Seconds to wait before the next restart, after that many."""
        if restarts_in_window == 0:
            return 0.0
        delay = self.backoff_initial * self.backoff_factor ** (
            restarts_in_window - 1)
        return min(self.backoff_max, delay)


@dataclasses.dataclass(frozen=True)
class Action:
    kind: str      # RESTART, REPORT_DOWN or REPORT_UP
    reason: str


class ProcessWatch:
    """The decision state of one watched process."""

    def __init__(self, policy):
        self.policy = policy
        self.phase = STARTING
        self._ups = 0
        self._downs = 0
        self._last_detail = ''
        self._restarts = collections.deque()
        # None: a watch that just started cannot know whether a previous
        # one reported the process down.
        self.reported_down = None
        self.restart_due = None
        self._verify_deadline = None
        self._grace_until = None
        self._command_failed = False
        self._failure_reason = ''

    def __repr__(self):
        return '<ProcessWatch %s ups=%d downs=%d restarts=%d>' % (
            self.phase, self._ups, self._downs, len(self._restarts))

    # -- inputs ---------------------------------------------------------

    def observe(self, state, now, detail=''):
        """One check's reading; returns the actions to take, in order."""
        if state == UP:
            self._ups, self._downs = self._ups + 1, 0
        elif state == DOWN:
            self._ups, self._downs = 0, self._downs + 1
            self._last_detail = detail or self._last_detail
        elif state != UNKNOWN:
            raise ValueError('unknown observation %r' % (state,))
        if self.phase == RESTARTING:
            return []
        if self._ups >= self.policy.confirm_checks:
            return self._confirmed_up()
        if self.phase in (STARTING, RUNNING):
            if self._downs >= self.policy.confirm_checks:
                return self._failed(now, state, 'down (%s)' % (
                    self._last_detail or 'confirmed by %d checks'
                    % self._downs))
            return []
        if self.phase == FAILED:
            return self._maybe_restart(now, state)
        if self.phase == VERIFYING:
            if self._command_failed and \
                    self._downs >= self.policy.confirm_checks:
                return self._failed(now, state, 'restart command failed '
                                    'and it is still down')
            if self._downs >= self.policy.confirm_checks and \
                    now >= self._grace_until:
                return self._failed(now, state, 'down again %.1fs after '
                                    'its restart' % (
                                        now - self._grace_until +
                                        self.policy.start_grace))
            if now >= self._verify_deadline:
                return self._failed(now, state, 'not up %.1fs after its '
                                    'restart' % self.policy.start_timeout)
        return []

    def restart_finished(self, ok, now):
        """The restart command returned (``ok``: exit status 0)."""
        if self.phase != RESTARTING:
            raise RuntimeError('no restart is running (%s)' % self.phase)
        self.phase = VERIFYING
        self._ups = self._downs = 0
        self._command_failed = not ok
        self._verify_deadline = now + self.policy.start_timeout
        self._grace_until = now + self.policy.start_grace
        return []

    # -- queries ----------------------------------------------------------

    def wake_at(self):
        """Monotonic time at which a check matters even if none is due."""
        if self.phase == FAILED:
            return self.restart_due
        if self.phase == VERIFYING:
            return self._verify_deadline
        return None

    def restarts_in_window(self, now):
        self._prune(now)
        return len(self._restarts)

    # -- transitions ------------------------------------------------------

    def _confirmed_up(self):
        was, self.phase = self.phase, RUNNING
        self.restart_due = None
        if was == RUNNING:
            return []
        if self.reported_down is False:
            # Recovered (restarted, or back on its own) before anything
            # was reported: nothing to take back.
            return []
        self.reported_down = False
        reason = {STARTING: 'running at monitor start',
                  GAVE_UP: 'up again after being reported down'}.get(
                      was, 'up again after a restart (first confirmed up '
                           'since the monitor started)')
        return [Action(REPORT_UP, reason)]

    def _failed(self, now, state, reason):
        self._prune(now)
        count = len(self._restarts)
        if count >= self.policy.max_restarts:
            self.phase = GAVE_UP
            self.restart_due = None
            if self.reported_down:
                return []
            self.reported_down = True
            if not self.policy.max_restarts:
                return [Action(REPORT_DOWN, '%s; not restarted '
                               '(max_restarts = 0)' % reason)]
            return [Action(REPORT_DOWN, '%s; %d restart(s) within %.0fs, '
                           'giving up' % (reason, count,
                                          self.policy.restart_window))]
        self.phase = FAILED
        self.restart_due = now + self.policy.backoff(count)
        self._failure_reason = reason
        return self._maybe_restart(now, state)

    def _maybe_restart(self, now, state):
        if state != DOWN or now < self.restart_due:
            return []
        self._prune(now)
        self._restarts.append(now)
        self.phase = RESTARTING
        return [Action(RESTART, '%s; restart %d of %d within %.0fs' % (
            self._failure_reason, len(self._restarts),
            self.policy.max_restarts, self.policy.restart_window))]

    def _prune(self, now):
        horizon = now - self.policy.restart_window
        while self._restarts and self._restarts[0] <= horizon:
            self._restarts.popleft()


def describe(watch, now):
    """One line for logs and the status command."""
    if watch.phase == FAILED:
        return 'failed, restart in %.1fs' % max(0.0, watch.restart_due - now)
    return watch.phase
