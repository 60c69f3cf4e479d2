"""When the storm guard may judge a host-down report: a pure clock rule.

Hosts lost to one cause (a partition, a rack's power) are reported within
moments of each other, so judging the first report alone could fence a host
before the storm is visible.  Waiting a fixed settle time on every report
makes every single-host recovery that much slower, and single-host failures
are the common case.

The rule here follows Kubernetes' node lifecycle controller, which evicts
the first node of a zone at once and rate-limits the rest.  Per segment, a
storm is a run of reports each less than ``settle_time`` after the one
before.  The first ``burst`` reports of a run are judged at once; every
later one waits ``settle_time`` from its own arrival, as all reports did
before, and is judged with every report that arrived meanwhile.  A storm
therefore costs at most ``burst`` hosts per segment, and only hosts whose
fencing powers them off are judged at once (never a host on the ``noop``
driver), so those hosts are off before anything moves and no VM runs twice.

Reports of lost heartbeats are confirmed through a second channel before
they get here (nova_ha.servicegroup.confirm): a host cut off from the
coordination service but still reporting to Nova is never fenced, and
while a partitioned rack's Nova heartbeats go stale every host of it is
already counted down, so the guard sees the storm without waiting.
``burst=0`` is the strict rule: every report waits.
"""

import threading


class SettleWindows:
    """Per-segment runs of reports; ``delay`` says how long one waits."""

    def __init__(self, settle_time, burst=1):
        self.settle_time = max(0.0, settle_time)
        self.burst = max(0, burst)
        # segment -> [time of the run's last report, reports in the run]
        self._runs = {}
        self._lock = threading.Lock()

    def delay(self, segment, now, may_skip=True):
        """Seconds the report of a host in ``segment`` waits before the
        storm guard judges it (0: judge now).  ``may_skip`` is False for a
        host that fencing cannot power off: it always waits."""
        if not self.settle_time:
            return 0.0
        with self._lock:
            run = self._runs.get(segment)
            if run is None or now - run[0] >= self.settle_time:
                run = self._runs[segment] = [now, 0]
            earlier = run[1]
            run[0], run[1] = now, earlier + 1
            if may_skip and earlier < self.burst:
                return 0.0
            return self.settle_time
