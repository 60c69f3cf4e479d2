"""The host heartbeat: this compute node is alive, whatever nova-compute does.

nova-ha-monitor keeps the member HOST ([monitor] host, Nova's host name) in
the tooz group ``HOST_GROUP`` with the backend URL and timing of
``[ha_servicegroup]``, through the same Heartbeater Nova services use for
their own group.  The engine reads both groups: nova-compute's membership
gone while this one stays is a process failure on a live host; both gone
is a host death.  The heartbeat runs on its own thread, so it keeps beating
while nova-compute is down or being restarted, stops when the host (and so
this process) dies, and leaves the group at once on a clean stop.
"""

import threading
import time

from oslo_log import log as logging

from nova_ha.servicegroup import backend
from nova_ha.servicegroup import host_group
from nova_ha.servicegroup import heartbeat

LOG = logging.getLogger(__name__)

# The group and its URL (kept importable from here).
HOST_TOPIC = host_group.HOST_TOPIC
HOST_GROUP = host_group.HOST_GROUP
REDIS_NAMESPACE = host_group.REDIS_NAMESPACE
host_group_url = host_group.host_group_url


class HostHeartbeat:
    """Beat as ``host`` in ``group`` every ``interval`` seconds."""

    def __init__(self, url, host, interval, down_time, group=HOST_GROUP):
        self.host = host
        self.interval = interval
        self._beater = heartbeat.Heartbeater(url, group, host, interval,
                                             down_time)
        self._stop = threading.Event()
        self._first_beat = threading.Event()
        self._thread = None

    @classmethod
    def from_conf(cls, conf, host):
        options = conf.ha_servicegroup
        return cls(host_group_url(backend.configured_url(conf)), host,
                   options.heartbeat_interval, options.down_time)

    def __repr__(self):
        return '<HostHeartbeat %r>' % self._beater

    @property
    def group(self):
        return self._beater.group

    @property
    def last_ok(self):
        """time.time() of the last beat that reached the backend."""
        return self._beater.last_ok_wall

    def publish(self, capabilities):
        """Announce ``capabilities()`` with every beat from now on."""
        self._beater.set_capabilities(capabilities)

    def start(self):
        if self._thread is not None:
            return
        LOG.info('heartbeating for host %s: %r every %.2fs', self.host,
                 self._beater, self.interval)
        self._stop.clear()
        self._thread = threading.Thread(target=self._run,
                                        name='nova-ha-host-heartbeat',
                                        daemon=True)
        self._thread.start()

    def wait_first_beat(self, timeout):
        """True once a heartbeat reached the backend."""
        return self._first_beat.wait(timeout)

    def _run(self):
        due = time.monotonic()
        while not self._stop.is_set():
            if self._beater.beat():
                self._first_beat.set()
            # Keep the cadence; after a stall beat at once.
            due = max(due + self.interval, time.monotonic())
            self._stop.wait(due - time.monotonic())

    def stop(self, timeout=5.0):
        """Stop beating and leave the group (watchers see it at once)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._beater.stop(leave=True)
        LOG.info('host %s left %s', self.host, self.group)
