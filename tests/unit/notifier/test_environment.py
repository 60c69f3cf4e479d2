"""Which hosts the storm guard may judge at once: those fencing powers off."""

import unittest

from nova_ha.notifier import environment


def env(fence_driver):
    return environment.Environment(nova=None, history=None, fencer=None,
                                   locks=None, fence_driver=fence_driver)


class TestFencingPowersOff(unittest.TestCase):

    def test_real_drivers_power_off(self):
        self.assertTrue(env(lambda host: 'ipmi').fencing_powers_off('h1'))
        self.assertTrue(env(lambda host: 'redfish').fencing_powers_off('h1'))

    def test_noop_missing_or_unknown_driver_does_not(self):
        self.assertFalse(env(lambda host: 'noop').fencing_powers_off('h1'))
        self.assertFalse(env(lambda host: None).fencing_powers_off('h1'))
        self.assertFalse(env(None).fencing_powers_off('h1'))

    def test_a_failing_lookup_does_not(self):
        def broken(host):
            raise RuntimeError('config unreadable')
        with self.assertLogs(environment.LOG.logger, 'WARNING'):
            self.assertFalse(env(broken).fencing_powers_off('h1'))
