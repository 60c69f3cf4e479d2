"""The fence procedure's decisions, on a virtual clock.

The driver is scripted (tests/unit/fencing/fakes.py): these tests pin what
counts as proof of power off and how the deadline is kept; the real BMC
peers are in tests/integration/fencing.
"""

import logging

import fixtures
import testtools

from nova_ha.fencing import base
from nova_ha.fencing import noop
from nova_ha.fencing import procedure
from tests.unit.fencing import fakes

ON = base.PowerState.ON
OFF = base.PowerState.OFF
UNKNOWN = base.PowerState.UNKNOWN
PASSWORD = 's3cr3t-Pa55'


class ProcedureTestCase(testtools.TestCase):

    def setUp(self):
        super().setUp()
        self.clock = fakes.FakeClock()
        self.log = self.useFixture(fixtures.FakeLogger(
            level=logging.DEBUG, format='%(levelname)s %(message)s'))

    def fence(self, driver, timeout=60.0, poll_interval=0.5,
              retry_interval=None):
        return driver.fence(timeout, poll_interval=poll_interval,
                            clock=self.clock, sleep=self.clock.sleep,
                            retry_interval=retry_interval)

    def assertNoSecret(self, driver, result):
        for text in (result.detail, repr(result), str(result.to_dict()),
                     repr(driver), repr(driver.bmc), str(driver.bmc),
                     self.log.output):
            self.assertNotIn(PASSWORD, text)

    def test_already_off_sends_no_request(self):
        driver = fakes.ScriptedDriver([OFF])
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.ALREADY_OFF, result.outcome)
        self.assertTrue(result.confirmed_off)
        self.assertEqual(0, result.attempts)
        self.assertEqual(0, driver.requests)
        self.assertEqual(OFF, result.power_state)
        self.assertTrue(driver.closed)

    def test_turns_off_after_some_polls(self):
        driver = fakes.ScriptedDriver([ON], off_after=4)
        result = self.fence(driver, poll_interval=0.5)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome)
        self.assertTrue(result.confirmed_off)
        self.assertEqual(1, result.attempts)
        self.assertEqual(OFF, result.power_state)
        # A first look soon after the request, then every poll_interval.
        self.assertEqual([procedure.FIRST_CHECK_AFTER] + [0.5] * 3,
                         self.clock.sleeps)
        self.assertEqual(1.6, round(result.elapsed_s, 6))
        self.assertIn('confirmed power off', result.detail)
        self.assertIn('INFO', self.log.output)

    def test_unknown_first_read_still_requests_power_off(self):
        driver = fakes.ScriptedDriver([UNKNOWN], off_after=1)
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome)
        self.assertEqual(1, driver.requests)

    def test_never_off_fails_at_the_deadline(self):
        driver = fakes.ScriptedDriver([ON])
        result = self.fence(driver, timeout=10.0, poll_interval=1.0,
                            retry_interval=4.0)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertFalse(result.confirmed_off)
        self.assertEqual(10.0, result.elapsed_s)
        self.assertEqual(ON, result.power_state)
        # requests at t=0, 4 and 8
        self.assertEqual(3, result.attempts)
        self.assertIn('no confirmation of power off within 10.0 s',
                      result.detail)
        self.assertIn('ERROR', self.log.output)

    def test_last_sleep_is_cut_to_the_deadline(self):
        driver = fakes.ScriptedDriver([ON])
        self.fence(driver, timeout=1.3, poll_interval=0.5)
        self.assertEqual(1.3, round(sum(self.clock.sleeps), 6))
        # 0.1 (first look), 0.5, 0.5, then the 0.2 left
        self.assertAlmostEqual(0.2, self.clock.sleeps[-1])

    def test_slow_reads_do_not_stretch_the_deadline(self):
        driver = fakes.ScriptedDriver([ON], clock=self.clock, read_cost=3.0)
        result = self.fence(driver, timeout=10.0, poll_interval=0.5)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        # at most one read past the deadline
        self.assertLessEqual(result.elapsed_s, 10.0 + 3.0)

    def test_no_repeat_request_before_retry_interval(self):
        driver = fakes.ScriptedDriver([ON], off_after=20)
        result = self.fence(driver, poll_interval=0.5, retry_interval=15.0)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome)
        self.assertEqual(1, result.attempts)

    def test_unreachable_bmc_fails_at_once(self):
        driver = fakes.ScriptedDriver(
            [base.BMCUnreachable('IPMI BMC 10.0.0.1 did not answer')])
        result = self.fence(driver, timeout=60.0)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertEqual(0, result.elapsed_s)
        self.assertEqual(0, result.attempts)
        self.assertIn('could not read the power state', result.detail)
        self.assertIn('did not answer', result.detail)

    def test_auth_error_fails_with_a_clear_detail(self):
        driver = fakes.ScriptedDriver(
            [base.BMCAuthError('BMC refused the password of user fence')])
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertIn('refused the password', result.detail)
        self.assertNoSecret(driver, result)

    def test_auth_error_while_confirming_fails_at_once(self):
        driver = fakes.ScriptedDriver(
            [ON, ON, base.BMCAuthError('session privilege lost')])
        result = self.fence(driver, timeout=60.0)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertEqual(0.6, round(result.elapsed_s, 6))
        self.assertIn('refused the credentials while confirming',
                      result.detail)

    def test_request_error_fails_at_once(self):
        driver = fakes.ScriptedDriver(
            [ON], request_errors=[base.FenceError('chassis control: 0xcc')])
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertEqual(1, result.attempts)
        self.assertIn('the power-off request failed: chassis control',
                      result.detail)

    def test_transient_errors_while_confirming_are_tolerated(self):
        driver = fakes.ScriptedDriver(
            [ON, base.BMCUnreachable('busy'), base.BMCUnreachable('busy'),
             OFF])
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.FENCED, result.outcome)

    def test_deadline_reports_the_last_error(self):
        driver = fakes.ScriptedDriver(
            [ON, base.BMCUnreachable('BMC 10.0.0.1 did not answer')])
        result = self.fence(driver, timeout=5.0)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertEqual(UNKNOWN, result.power_state)
        self.assertIn('last error: BMC 10.0.0.1 did not answer',
                      result.detail)

    def test_a_driver_bug_is_a_failure_not_a_crash(self):
        driver = fakes.ScriptedDriver([KeyError('PowerState')])
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.FAILED, result.outcome)
        self.assertIn('KeyError', result.detail)
        self.assertTrue(driver.closed)

    def test_secret_in_a_driver_message_is_redacted(self):
        driver = fakes.ScriptedDriver(
            [base.FenceError('login with %s failed' % PASSWORD)])
        result = self.fence(driver)
        self.assertIn('login with *** failed', result.detail)
        self.assertNoSecret(driver, result)

    def test_close_failure_is_logged_without_secret(self):
        driver = fakes.ScriptedDriver([OFF])

        def close():
            raise OSError('logout %s refused' % PASSWORD)
        driver.close = close
        result = self.fence(driver)
        self.assertEqual(base.FenceOutcome.ALREADY_OFF, result.outcome)
        self.assertIn('logout *** refused', self.log.output)
        self.assertNoSecret(driver, result)

    def test_result_to_dict(self):
        driver = fakes.ScriptedDriver([ON], off_after=1)
        data = self.fence(driver).to_dict()
        self.assertEqual({'host': 'compute-1', 'driver': 'scripted',
                          'outcome': 'fenced', 'power_state': 'off',
                          'detail': 'the BMC confirmed power off after 1 '
                                    'power-off request(s)',
                          'elapsed_s': procedure.FIRST_CHECK_AFTER,
                          'attempts': 1,
                          'confirmed_off': True}, data)


class NoopDriverTestCase(testtools.TestCase):

    def test_noop_is_never_confirmed_off(self):
        log = self.useFixture(fixtures.FakeLogger(level=logging.WARNING))
        driver = noop.NoopFenceDriver('compute-2', base.BMCConfig('noop'))
        result = driver.fence(60)
        self.assertEqual(base.FenceOutcome.NOT_FENCED, result.outcome)
        self.assertFalse(result.confirmed_off)
        self.assertEqual(base.PowerState.UNKNOWN, result.power_state)
        self.assertIn('compute-2 was NOT fenced', result.detail)
        self.assertIn('NOT fenced', log.output)


class RedactTestCase(testtools.TestCase):

    def test_redact_ignores_empty_secrets(self):
        self.assertEqual('a b', procedure.redact('a b', ['', None]))
        self.assertEqual('*** b ***', procedure.redact('x b x', ['x']))

    def test_bmc_config_repr_hides_password(self):
        bmc = base.BMCConfig('ipmi', '10.0.0.1', 623, 'admin', PASSWORD,
                             {'cipher_suite': 3})
        self.assertNotIn(PASSWORD, repr(bmc))
        self.assertNotIn(PASSWORD, str(bmc))
        self.assertIn('cipher_suite', repr(bmc))
