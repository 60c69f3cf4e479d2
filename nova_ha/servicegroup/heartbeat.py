"""Heartbeater: keeps one Nova service a live member of its tooz group.

``beat()`` is called every heartbeat_interval by the Nova service's own
timer (so a stopped service stops beating, exactly like Nova's DB
heartbeat).  A beat that follows a gap (backend outage, paused process)
first joins the group again, because the backend may have dropped the
member meanwhile (Redis removes expired members when anyone lists them).
"""

import threading
import time

from oslo_log import log as logging
from tooz import coordination

from nova_ha.servicegroup import backend

LOG = logging.getLogger(__name__)


class Heartbeater:

    def __init__(self, url, group, member, heartbeat_interval, down_time,
                 clock=time.monotonic):
        self._url = url
        self.group = group
        self.member = member
        self.heartbeat_interval = heartbeat_interval
        self.down_time = down_time
        self._clock = clock
        self._coordinator = None
        self._last_ok = None
        self._last_join = None
        self._joined = False
        self._failing = False
        self._lock = threading.Lock()
        self._stopped = False
        self._capabilities = None
        self.last_ok_wall = None    # time.time() of the last good beat

    def __repr__(self):
        return '<Heartbeater %s in %s at %s>' % (
            self.member, self.group, backend.redact(self._url))

    def beat(self):
        """One heartbeat; never raises (a timer must keep running)."""
        with self._lock:
            if self._stopped:
                return False
            try:
                self._beat()
            except Exception as exc:
                self._on_failure(exc)
                return False
            if self._failing:
                LOG.warning('nova-ha: %s heartbeats to the liveness backend '
                            'again', self.member)
            self._failing = False
            return True

    def _beat(self):
        now = self._clock()
        if self._coordinator is None:
            self._coordinator = backend.connect(self._url, self.member)
        if not self._joined or self._needs_rejoin(now):
            self._join(fresh=not self._joined)
        self._coordinator.heartbeat()
        capabilities = self._capabilities() if self._capabilities else None
        if capabilities is not None:
            # What the member says of itself, read by the engines (the
            # monitor's view of its peers); refreshed with every beat.
            self._coordinator.update_capabilities(
                self.group.encode(), capabilities).get()
        self._last_ok = self._clock()
        self.last_ok_wall = time.time()

    def set_capabilities(self, capabilities):
        """``capabilities()`` (a msgpack-able dict) is published with
        every beat from now on."""
        self._capabilities = capabilities

    def _needs_rejoin(self, now):
        # After a gap the backend may have dropped us; re-assert every
        # down_time / 2 anyway, so that a backend restarted empty is
        # repopulated before watchers stop believing absences.
        if self._last_ok is None or now - self._last_ok > self.down_time / 2:
            return True
        return now - self._last_join >= self.down_time / 2

    def _join(self, fresh):
        group = self.group.encode()
        try:
            self._coordinator.join_group(group).get()
        except coordination.GroupNotCreated:
            backend.ensure_group(self._coordinator, self.group)
            self._join_ignoring_existing(group)
        except coordination.MemberAlreadyExist:
            if fresh:
                # A previous incarnation of this service left its record;
                # take it over so that this coordinator heartbeats it (the
                # file driver only refreshes groups it joined itself).
                self._coordinator.leave_group(group).get()
                self._join_ignoring_existing(group)
        self._joined = True
        self._last_join = self._clock()

    def _join_ignoring_existing(self, group):
        try:
            self._coordinator.join_group(group).get()
        except coordination.MemberAlreadyExist:
            pass

    def _on_failure(self, exc):
        if not self._failing:
            LOG.warning('nova-ha: %s cannot heartbeat to the liveness '
                        'backend %s (%s); watchers fall back to Nova\'s '
                        'database heartbeat if they cannot read it either',
                        self.member, backend.redact(self._url),
                        type(exc).__name__)
        # Keep the coordinator: stopping it would leave the group, and a
        # single slow call must not turn into an absence.  Clients
        # reconnect on their next call.
        self._failing = True

    def _drop_coordinator(self):
        coordinator, self._coordinator = self._coordinator, None
        if coordinator is not None:
            try:
                coordinator.stop()
            except Exception:
                LOG.debug('closing heartbeat coordinator failed',
                          exc_info=True)

    def stop(self, leave=True):
        """Stop beating; leave the group so watchers see it at once."""
        with self._lock:
            self._stopped = True
            if leave and self._coordinator is not None:
                try:
                    self._coordinator.leave_group(self.group.encode()).get()
                except Exception:
                    LOG.debug('leaving %s failed', self.group, exc_info=True)
            self._drop_coordinator()
