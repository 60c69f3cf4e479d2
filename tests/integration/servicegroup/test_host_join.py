"""Both heartbeats of a host on a real Redis, joined as the engine joins them.

Real parts: Redis (127.0.0.1:6379), member processes heartbeating through
the Heartbeater Nova services and nova-ha-monitor use (one in nova-compute's
group, one in the host group), the watchers the engine runs, and the join.
"""

import threading
import time

from nova_ha.compute_hooks import heartbeat as host_heartbeat
from nova_ha.servicegroup import host_join
from nova_ha.servicegroup import membership
from nova_ha.servicegroup import watcher
from tests.integration.servicegroup import test_redis_liveness as base


class TestHostJoinOnRedis(base.LivenessTestBase):

    def setUp(self):
        super().setUp()
        self.host_group = self.group + '-host'
        self.reports = []
        self.changed = threading.Condition()

        def report(host, verdict, reason):
            with self.changed:
                self.reports.append((host, verdict))
                self.changed.notify_all()
        self.join = host_join.HostLivenessJoin(report)
        self.watchers = []
        self.host_url = host_heartbeat.host_group_url(self.url)
        for url, group, feed in (
                (self.url, self.group, self.join.on_compute_change),
                (self.host_url, self.host_group, self.join.on_host_change)):
            w = watcher.HostLivenessWatcher(url, group, feed,
                                            down_time=base.DOWN_TIME,
                                            poll_interval=base.POLL)
            w.start()
            self.addCleanup(w.stop)
            self.watchers.append(w)

    def start_in(self, url, group, host):
        saved = self.url, self.group
        self.url, self.group = url, group
        try:
            return self.start_member(host)
        finally:
            self.url, self.group = saved

    def wait_report(self, expected, timeout):
        deadline = time.monotonic() + timeout
        with self.changed:
            while expected not in self.reports:
                left = deadline - time.monotonic()
                if left <= 0:
                    self.fail('no %s in %s' % (expected, self.reports))
                self.changed.wait(left)

    def test_only_the_loss_of_both_heartbeats_is_a_host_death(self):
        # The same member name in both groups, as in production.
        compute = self.start_in(self.url, self.group, 'c1')
        monitor = self.start_in(self.host_url, self.host_group, 'c1')
        for w in self.watchers:
            self.wait_state(w, 'c1', membership.UP, 5)
        compute.kill()            # nova-compute dies, the host lives on
        self.wait_report(('c1', host_join.COMPUTE_ONLY), 3 * base.DOWN_TIME)
        self.assertNotIn(('c1', host_join.HOST_DOWN), self.reports)
        monitor.kill()            # now the host is gone
        self.wait_report(('c1', host_join.HOST_DOWN), 3 * base.DOWN_TIME)
