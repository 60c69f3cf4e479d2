"""When the storm guard may judge a host-down report: a pure clock rule.

Hosts lost to one cause (a partition, a rack's power) are reported within
moments of each other, so judging the first report alone could fence a host
before the storm is visible.  Waiting a fixed settle time on every report
makes every single-host recovery that much slower, and single-host failures
are the common case.

The rule here follows Kubernetes' node lifecycle controller, which evicts
the first node of a zone at once and rate-limits the rest: per segment, a
window opens with the first report; the first ``burst`` reports of the
window are judged at once, later ones wait until the window has lasted
``settle_time`` and are then judged with every report that arrived.  A
storm therefore costs at most ``burst`` hosts per segment, and those hosts
are still fenced before anything moves, so no VM ever runs twice.

Reports of lost heartbeats are confirmed through a second channel before
they get here (nova_ha.servicegroup.confirm): a host cut off from the
coordination service but still reporting to Nova is never fenced, and
while a partitioned rack's Nova heartbeats go stale every host of it is
already counted down, so the guard sees the storm without waiting.
``burst=0`` restores the strict rule (every report waits).
"""

import threading


class SettleWindows:
    """Per-segment settle windows; ``delay`` says how long a report waits."""

    def __init__(self, settle_time, burst=1):
        self.settle_time = max(0.0, settle_time)
        self.burst = max(0, burst)
        self._windows = {}     # segment -> [opened_at, reports judged at once]
        self._lock = threading.Lock()

    def delay(self, segment, now):
        """Seconds the report of a host in ``segment`` waits before the
        storm guard judges it (0: judge now)."""
        if not self.settle_time:
            return 0.0
        with self._lock:
            window = self._windows.get(segment)
            if window is None or now - window[0] >= self.settle_time:
                window = self._windows[segment] = [now, 0]
            if window[1] < self.burst:
                window[1] += 1
                return 0.0
            return max(0.0, window[0] + self.settle_time - now)
