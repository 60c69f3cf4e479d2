"""Two heartbeats per compute host, one verdict.

A compute host heartbeats twice: nova-compute in the ``compute`` group (the
servicegroup driver) and nova-ha-monitor in the host group
(nova_ha.compute_hooks.heartbeat).  Only the loss of both is a host death;
nova-compute's alone is a process failure on a live host, which the
monitor restarts and reports itself (process.down), and fencing that host
would kill every VM on it for nothing.  A host that never ran the monitor
is judged by nova-compute's heartbeat alone, as before the monitor existed;
one whose nova-compute never joined (Nova on its DB servicegroup driver)
by the monitor's alone.

``verdict`` is the pure rule; ``HostLivenessJoin`` keeps both views and
turns the watchers' changes into host.down / host.up reports, each once.
"""

import threading

from oslo_log import log as logging

from nova_ha.servicegroup import membership

LOG = logging.getLogger(__name__)

HOST_DOWN = 'host_down'
HOST_UP = 'host_up'
COMPUTE_ONLY = 'compute_only_down'   # live host, nova-compute gone
MONITOR_ONLY = 'monitor_only_down'   # live nova-compute, monitor gone


def verdict(compute, host):
    """Judge one host from both heartbeats.

    :param compute: nova-compute's state in its group (membership.UP,
        DOWN or UNKNOWN), None if it never joined (Nova on another
        servicegroup driver)
    :param host: the monitor's state in the host group, None if the host
        never ran the monitor
    :returns: HOST_DOWN, HOST_UP, COMPUTE_ONLY, MONITOR_ONLY, or None when
        nothing can be believed (an unreadable backend is never a reason
        to fence)
    """
    known = [state for state in (compute, host) if state is not None]
    if not known or membership.UNKNOWN in known:
        return None
    if all(state == membership.DOWN for state in known):
        return HOST_DOWN
    if compute == membership.DOWN:
        return COMPUTE_ONLY
    if host == membership.DOWN:
        return MONITOR_ONLY
    return HOST_UP


class HostLivenessJoin:
    """Feed it both watchers' changes; it calls ``report(host, verdict,
    reason)`` when a host's verdict changes.

    Thread-safe: the two watchers call from their own threads.
    """

    def __init__(self, report):
        self._report = report
        self._lock = threading.Lock()
        # Reports go out one at a time, and only while still current: the
        # two watchers' threads see a power loss milliseconds apart, and a
        # "nova-compute only" report overtaken by "host down" must not
        # land after it (the engine would take the dead host for alive).
        self._report_lock = threading.Lock()
        self._compute = {}
        self._host = {}
        self._verdicts = {}

    def on_compute_change(self, change):
        self._observe(self._compute, change)

    def on_host_change(self, change):
        self._observe(self._host, change)

    def _observe(self, states, change):
        with self._lock:
            states[change.host] = change.state
            now = verdict(self._compute.get(change.host),
                          self._host.get(change.host))
            if now is None or now == self._verdicts.get(change.host):
                return
            first = change.host not in self._verdicts
            self._verdicts[change.host] = now
        if first and now == HOST_UP:
            return    # hosts seen alive at start-up are not news
        with self._report_lock:
            with self._lock:
                if self._verdicts.get(change.host) != now:
                    return    # overtaken: the newer verdict is reported
            self._report(change.host, now, change.reason)
