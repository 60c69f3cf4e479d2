"""The rule that only the loss of every heartbeat of a host is its death."""

import threading
import time
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


class TestJoinRace(unittest.TestCase):
    """A power loss takes both heartbeats at once, and the two watchers
    report from their own threads a few milliseconds apart.  In the lab
    cloud (rack and engine scenarios) the report of "nova-compute only"
    reached the engine after "host down", and the engine's board was left
    saying the dead host is alive: no incident, or a cancelled one."""

    def test_the_last_report_is_the_current_verdict(self):
        reports = []
        join = None

        def report(host, verdict, reason):
            if verdict == host_join.COMPUTE_ONLY:
                # The host watcher's change arrives while this report is
                # on its way.
                other = threading.Thread(
                    target=join.on_host_change, args=(change('c1', DOWN),))
                other.start()
                other.join(0.5)
            reports.append(verdict)
        join = host_join.HostLivenessJoin(report)
        join.on_compute_change(change('c1', UP))
        join.on_host_change(change('c1', UP))
        join.on_compute_change(change('c1', DOWN))
        deadline = time.monotonic() + 2
        while host_join.HOST_DOWN not in reports and \
                time.monotonic() < deadline:
            time.sleep(0.01)
        self.assertEqual(host_join.HOST_DOWN, reports[-1], reports)
