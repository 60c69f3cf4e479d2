"""The host-down confirmation table the engine runs before fencing."""

import unittest

from nova_ha.servicegroup import confirm as c

T = c.ConfirmThresholds(nova_heartbeat_stale_s=20.0, max_wait_s=120.0)

# heartbeat_lost, bmc, nova age, lost for -> action, rule
TABLE = [
    (False, 'on', 5.0, 0.0, c.IGNORE, 'R1'),
    (False, 'off', None, 0.0, c.IGNORE, 'R1'),
    (True, 'off', 1.0, 0.0, c.FENCE, 'R2'),
    (True, 'off', None, 0.0, c.FENCE, 'R2'),
    (True, 'on', 3.0, 5.0, c.WAIT, 'R3'),
    (True, None, 3.0, 5.0, c.WAIT, 'R3'),
    (True, 'on', 3.0, 120.0, c.ALERT, 'R4'),
    (True, 'on', 25.0, 10.0, c.FENCE, 'R5'),
    (True, None, 25.0, 10.0, c.FENCE, 'R5'),
    (True, 'on', 20.0, 10.0, c.WAIT, 'R3'),  # boundary: not yet stale
    (True, 'unknown', 300.0, 10.0, c.WAIT, 'R6'),
    (True, 'unknown', 300.0, 121.0, c.ALERT, 'R7'),
    (True, 'on', None, 10.0, c.WAIT, 'R8'),
    (True, None, None, 500.0, c.ALERT, 'R9'),
]


class TestConfirmHostDown(unittest.TestCase):

    def test_decision_table(self):
        for lost, bmc, age, lost_for, action, rule in TABLE:
            with self.subTest(lost=lost, bmc=bmc, age=age, lost_for=lost_for):
                decision = c.confirm_host_down(lost, bmc, age, lost_for, T)
                self.assertEqual((action, rule),
                                 (decision.action, decision.rule))
                self.assertTrue(decision.reason)

    def test_a_blip_never_fences_a_host_that_reports_to_nova(self):
        for lost_for in (0.0, 10.0, 60.0, 1000.0):
            decision = c.confirm_host_down(True, 'on', 2.0, lost_for, T)
            self.assertNotEqual(c.FENCE, decision.action)

    def test_unreachable_bmc_never_fences(self):
        for age in (None, 0.0, 1000.0):
            decision = c.confirm_host_down(True, 'unknown', age, 1000.0, T)
            self.assertNotEqual(c.FENCE, decision.action)

    def test_bad_bmc_value_is_refused_clearly(self):
        with self.assertRaisesRegex(ValueError, 'bmc_power'):
            c.confirm_host_down(True, 'ON', 1.0)

    def test_thresholds_from_conf(self):
        from oslo_config import cfg

        from nova_ha.conf import servicegroup
        conf = cfg.ConfigOpts()
        servicegroup.register_opts(conf)
        conf([], default_config_files=[])
        conf.set_override('confirm_nova_heartbeat_stale', 7.0,
                          group='ha_servicegroup')
        self.assertEqual(c.ConfirmThresholds(7.0, 120.0),
                         c.ConfirmThresholds.from_conf(conf))
