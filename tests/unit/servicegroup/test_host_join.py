"""The rule that only the loss of every heartbeat of a host is its death."""

import unittest

from nova_ha.servicegroup import host_join
from nova_ha.servicegroup import membership

UP, DOWN, UNKNOWN = membership.UP, membership.DOWN, membership.UNKNOWN


def change(host, state):
    return membership.HostLivenessEvent(host, state, 0.0, 0.0, 'test')


class TestVerdict(unittest.TestCase):

    def test_table(self):
        cases = [
            # compute, host heartbeat -> verdict
            (UP, UP, host_join.HOST_UP),
            (DOWN, DOWN, host_join.HOST_DOWN),
            (DOWN, UP, host_join.COMPUTE_ONLY),   # nova-compute died
            (UP, DOWN, host_join.MONITOR_ONLY),   # the monitor died
            (DOWN, None, host_join.HOST_DOWN),    # no monitor on the host
            (UP, None, host_join.HOST_UP),
            (None, DOWN, host_join.HOST_DOWN),    # Nova on the DB driver
            (None, UP, host_join.HOST_UP),
            (None, None, None),
            (DOWN, UNKNOWN, None),                # unreadable: never fence
            (UNKNOWN, DOWN, None),
            (UNKNOWN, None, None),
        ]
        for compute, host, expected in cases:
            with self.subTest(compute=compute, host=host):
                self.assertEqual(expected, host_join.verdict(compute, host))


class TestJoin(unittest.TestCase):

    def setUp(self):
        self.reports = []
        self.join = host_join.HostLivenessJoin(
            lambda host, verdict, reason: self.reports.append(
                (host, verdict)))

    def test_dead_nova_compute_on_a_live_host_is_no_host_death(self):
        self.join.on_compute_change(change('c1', UP))
        self.join.on_host_change(change('c1', UP))
        self.join.on_compute_change(change('c1', DOWN))
        self.assertEqual([('c1', host_join.COMPUTE_ONLY)], self.reports)

    def test_host_down_once_when_the_last_heartbeat_goes(self):
        self.join.on_compute_change(change('c1', UP))
        self.join.on_host_change(change('c1', UP))
        self.join.on_compute_change(change('c1', DOWN))
        self.join.on_host_change(change('c1', DOWN))
        self.join.on_host_change(change('c1', DOWN))   # repeated view
        self.assertEqual([('c1', host_join.COMPUTE_ONLY),
                          ('c1', host_join.HOST_DOWN)], self.reports)

    def test_hosts_alive_at_start_are_not_reported(self):
        self.join.on_compute_change(change('c1', UP))
        self.join.on_host_change(change('c2', UP))
        self.assertEqual([], self.reports)

    def test_host_back_is_reported(self):
        self.join.on_compute_change(change('c1', UP))
        self.join.on_compute_change(change('c1', DOWN))
        self.join.on_compute_change(change('c1', UP))
        self.assertEqual([('c1', host_join.HOST_DOWN),
                          ('c1', host_join.HOST_UP)], self.reports)
