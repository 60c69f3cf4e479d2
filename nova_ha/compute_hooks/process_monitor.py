"""ProcessMonitor: one thread that checks, restarts and reports one process.

The loop: check -> ``ProcessWatch.observe`` -> carry out its actions (run
the restart command, publish process.down / process.up) -> sleep until the
next check or the moment the watch asked for, whichever comes first.
A report that cannot be published (the message bus is down) is kept and
sent again before anything newer, so the engine never misses a down nor
gets an up before its down.  Nothing here raises out of the loop.
"""

import threading
import time

from oslo_log import log as logging

from nova_ha.compute_hooks import process_decision as decision
from nova_ha.compute_hooks import publisher as publisher_lib
from nova_ha.notifier import events

LOG = logging.getLogger(__name__)

_EVENT_TYPES = {decision.REPORT_DOWN: events.PROCESS_DOWN,
                decision.REPORT_UP: events.PROCESS_UP}


class ProcessMonitor:
    """Watch one process.

    :param process: its name in events (events.PROCESSES)
    :param check: callable -> process_checks.Reading
    :param restart: callable -> process_checks.RestartResult, or None when
        the process must never be restarted (only with max_restarts = 0)
    :param policy: process_decision.RestartPolicy
    :param publisher: compute_hooks.publisher.EventPublisher
    :param check_interval: seconds between checks
    """

    def __init__(self, process, check, restart, policy, publisher,
                 check_interval, clock=time.monotonic):
        if restart is None and policy.max_restarts:
            raise ValueError('%s: no restart command but max_restarts = %d'
                             % (process, policy.max_restarts))
        self.process = process
        self.check = check
        self.restart = restart
        self.watch = decision.ProcessWatch(policy)
        self.publisher = publisher
        self.check_interval = check_interval
        self._clock = clock
        self._pending = []
        self._last_state = None
        self.checks = 0
        self.last_reading = None
        self._stop = threading.Event()
        self._thread = None

    def __repr__(self):
        return '<ProcessMonitor %s by %r: %r>' % (self.process, self.check,
                                                  self.watch)

    def start(self):
        if self._thread is not None:
            return
        LOG.info('watching %s through %r every %.2fs', self.process,
                 self.check, self.check_interval)
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name='nova-ha-process-%s' % self.process,
            daemon=True)
        self._thread.start()

    def stop(self, timeout=5.0):
        """Stop checking.  A restart command that is running is left to
        finish on its own (interrupting ``systemctl restart`` would not
        cancel the restart anyway)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self):
        while not self._stop.is_set():
            try:
                self.run_once()
            except Exception:   # the watch must outlive any bug
                LOG.exception('watching %s failed; checking again',
                              self.process)
            self._stop.wait(self._delay())

    def _delay(self):
        now = self._clock()
        wake = self.watch.wake_at()
        delay = self.check_interval
        if wake is not None:
            delay = min(delay, max(0.0, wake - now))
        return delay

    def run_once(self):
        """One check and what follows from it."""
        self._flush_pending()
        reading = self.check()
        self.checks += 1
        self.last_reading = reading
        self._log_transition(reading)
        for action in self.watch.observe(reading.state, self._clock(),
                                         reading.detail):
            self._carry_out(action)

    def _carry_out(self, action):
        if action.kind == decision.RESTART:
            LOG.warning('%s is %s: restarting it with %r', self.process,
                        action.reason, self.restart)
            result = self.restart()
            log = LOG.info if result.ok else LOG.error
            log('restart of %s: %s', self.process, result.detail)
            self.watch.restart_finished(result.ok, self._clock())
            return
        LOG.log(logging.ERROR if action.kind == decision.REPORT_DOWN
                else logging.INFO, 'reporting %s %s: %s', self.process,
                'down' if action.kind == decision.REPORT_DOWN else 'up',
                action.reason)
        self._pending.append((_EVENT_TYPES[action.kind], action.reason))
        self._flush_pending()

    def _flush_pending(self):
        while self._pending:
            event_type, reason = self._pending[0]
            try:
                self.publisher.publish(event_type, process=self.process,
                                       detail=reason)
            except publisher_lib.InvalidMonitorEvent:
                LOG.exception('dropping an invalid %s of %s', event_type,
                              self.process)
            except Exception as exc:
                # The type only: transport errors may quote the URL.
                LOG.error('cannot publish %s of %s (%s); will retry at the '
                          'next check', event_type, self.process,
                          type(exc).__name__)
                return
            self._pending.pop(0)

    def _log_transition(self, reading):
        if reading.state == self._last_state:
            return
        if reading.state == decision.UP:
            LOG.info('%s: %s', self.process, reading.detail)
        else:
            LOG.warning('%s reads %s: %s', self.process, reading.state,
                        reading.detail)
        self._last_state = reading.state
