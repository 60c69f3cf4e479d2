"""The fence procedure: read, cut, poll until proven off or out of time.

This is the only place that decides whether a host counts as fenced, so the
rule lives in one small function with time injected (``clock``, ``sleep``):
unit tests drive it with a fake driver on a virtual clock.

States and their meaning:

==============  ==========================================================
reading         first power-state read; OFF ends as ALREADY_OFF
requesting      power-off sent (counted in ``attempts``)
confirming      a first look ``FIRST_CHECK_AFTER`` after the request, then
                polling every ``poll_interval`` until the BMC says OFF;
                a BMC that still says ON ``retry_interval`` after the last
                request is asked again
fenced          the BMC reported OFF after our request
failed          no proof of OFF: an error before the request was accepted,
                an authentication error at any time, or the deadline
==============  ==========================================================

Errors while confirming (other than authentication) are tolerated until the
deadline: a BMC busy with a power transition may drop a request.  Errors
before the first request is accepted fail at once so that the engine can
alert without waiting for the deadline.
"""

import time

from oslo_log import log as logging

from nova_ha.fencing import results

LOG = logging.getLogger(__name__)

#: Re-send the power-off request when the BMC still says ON this long after
#: the last one (seconds).  Long enough for a BMC that applies the request
#: late (sushy-tools applies it 1-11 s later), short enough to recover a
#: dropped request well within a typical 60 s deadline.
DEFAULT_RETRY_INTERVAL = 15.0

#: Polling faster than this would only load the BMC.
MIN_POLL_INTERVAL = 0.05

#: The first look at the power state comes this soon after the power-off
#: request, the next ones every ``poll_interval``: many BMCs cut the power
#: at once (measured with pyghmi's fakebmc: off on the first look), and
#: each second waited here is a second every VM of the host stays down.
FIRST_CHECK_AFTER = 0.1

REDACTED = '***'


def redact(text, secrets):
    """Return ``text`` with every secret replaced (belt and braces: drivers
    already keep secrets out of their messages)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def describe(exc):
    """One line for an operator: the error class for non-fence errors
    (which are driver bugs or library surprises), the message otherwise."""
    if isinstance(exc, results.FenceError):
        return str(exc) or type(exc).__name__
    return '%s: %s' % (type(exc).__name__, exc)


class _Fence:
    """One fence in progress (the procedure's mutable state)."""

    def __init__(self, driver, timeout, poll_interval, clock, sleep,
                 retry_interval):
        self.driver = driver
        self.clock = clock
        self.sleep = sleep
        self.poll_interval = max(poll_interval, MIN_POLL_INTERVAL)
        self.retry_interval = (DEFAULT_RETRY_INTERVAL
                               if retry_interval is None else retry_interval)
        self.start = clock()
        self.deadline = self.start + max(timeout, 0.0)
        self.timeout = timeout
        self.attempts = 0
        self.last_request = None
        self.state = results.PowerState.UNKNOWN

    def result(self, outcome, detail):
        detail = redact(detail, self.driver.secrets())
        result = results.FenceResult(
            host=self.driver.host, driver=self.driver.name, outcome=outcome,
            power_state=self.state, detail=detail,
            elapsed_s=self.clock() - self.start, attempts=self.attempts)
        if result.outcome is results.FenceOutcome.FAILED:
            LOG.error('nova-ha: fencing host %s with %s FAILED after %.1f s '
                      '(%d power-off request(s)): %s', result.host,
                      result.driver, result.elapsed_s, result.attempts,
                      result.detail)
        else:
            LOG.info('nova-ha: fencing host %s with %s: %s in %.1f s: %s',
                     result.host, result.driver, result.outcome.value,
                     result.elapsed_s, result.detail)
        return result

    def failed(self, what, exc):
        return self.result(results.FenceOutcome.FAILED,
                           '%s: %s' % (what, describe(exc)))

    def request_off(self):
        self.attempts += 1
        self.last_request = self.clock()
        self.driver.request_power_off()

    def run(self):
        try:
            self.state = self.driver.get_power_state()
        except Exception as exc:
            return self.failed('could not read the power state', exc)
        if self.state is results.PowerState.OFF:
            return self.result(results.FenceOutcome.ALREADY_OFF,
                               'the BMC reports the host already powered off')
        try:
            self.request_off()
        except Exception as exc:
            return self.failed('the power-off request failed', exc)
        return self.confirm()

    def confirm(self):
        last_error = None
        wait = min(self.poll_interval, FIRST_CHECK_AFTER)
        while True:
            now = self.clock()
            if now >= self.deadline:
                break
            self.sleep(min(wait, self.deadline - now))
            wait = self.poll_interval
            try:
                self.state = self.driver.get_power_state()
                last_error = None
            except results.BMCAuthError as exc:
                return self.failed('the BMC refused the credentials while '
                                   'confirming power off', exc)
            except Exception as exc:
                last_error = exc
                self.state = results.PowerState.UNKNOWN
                continue
            if self.state is results.PowerState.OFF:
                return self.result(
                    results.FenceOutcome.FENCED,
                    'the BMC confirmed power off after %d power-off '
                    'request(s)' % self.attempts)
            if (self.state is results.PowerState.ON
                    and self.clock() - self.last_request
                    >= self.retry_interval
                    and self.clock() < self.deadline):
                try:
                    self.request_off()
                except results.BMCAuthError as exc:
                    return self.failed('the BMC refused the credentials on '
                                       'a repeated power-off request', exc)
                except Exception as exc:
                    last_error = exc
        detail = ('no confirmation of power off within %.1f s: the BMC '
                  'last reported %s after %d power-off request(s)' % (
                      self.timeout, self.state.value, self.attempts))
        if last_error is not None:
            detail += '; last error: %s' % describe(last_error)
        return self.result(results.FenceOutcome.FAILED, detail)


def fence(driver, timeout, poll_interval=0.5, clock=time.monotonic,
          sleep=time.sleep, retry_interval=None):
    """Fence ``driver``'s host within ``timeout`` seconds; never raises.

    Returns a :class:`~nova_ha.fencing.results.FenceResult`.  The deadline is
    checked between BMC calls, so a fence may overrun ``timeout`` by at most
    one call's own time limit (the driver's request timeout).
    """
    procedure = _Fence(driver, timeout, poll_interval, clock, sleep,
                       retry_interval)
    try:
        return procedure.run()
    except Exception as exc:  # a bug here must not crash the engine
        LOG.exception('nova-ha: fence procedure error for host %s',
                      driver.host)
        return procedure.failed('internal error of the fence procedure', exc)
    finally:
        try:
            driver.close()
        except Exception as exc:
            LOG.warning('nova-ha: closing the BMC session of host %s '
                        'failed: %s', driver.host,
                        redact(describe(exc), driver.secrets()))
