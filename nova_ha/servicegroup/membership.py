"""The locally cached view of a group's membership, as a pure state machine.

A poller feeds it what the backend said (``observe``) or that the backend
could not be read (``observe_failure``), with the observer's own clock; it
answers ``state(host)`` in O(1) and returns the host up/down changes.

States a host can be in, from the point of view of one observer:

========  ==============================================================
UP        a member of the group at the last successful read
DOWN      was a member, and is no longer (its heartbeats stopped for
          down_time, or it left)
UNKNOWN   never seen as a member since this observer started, or the
          backend cannot be read (for longer than down_time): callers
          fall back to Nova's database heartbeat
========  ==============================================================

Two rules keep a backend problem from looking like dead hosts:
- after an outage (and after the group disappears, as when the backend
  restarted empty), absences are not believed for ``down_time``: members
  need that long to notice and join again (the *settling* window);
- when the backend cannot be read, nobody is reported down: the view is
  UNKNOWN, never DOWN.
"""

import dataclasses

UP = 'up'
DOWN = 'down'
UNKNOWN = 'unknown'


@dataclasses.dataclass(frozen=True)
class HostLivenessEvent:
    """A host changed state, as seen by one watcher.

    ``observed_at`` is wall-clock epoch seconds of the observation;
    ``last_heartbeat_age_s`` is how long ago this watcher last saw the host
    as a live member (0.0 for an up event): the backend dropped it only
    after down_time without heartbeats, so its last heartbeat is at least
    down_time old when a down event is emitted.
    """

    host: str
    state: str
    observed_at: float
    last_heartbeat_age_s: float
    reason: str


@dataclasses.dataclass
class _Host:
    present: bool
    last_seen: float


class MembershipTracker:
    """Membership view of one group (not thread-safe for writers: one poller
    writes; readers only do dict lookups)."""

    def __init__(self, down_time):
        self.down_time = float(down_time)
        self._hosts = {}
        self._last_ok = None
        self._failing_since = None
        self._settle_until = None

    # -- what the poller tells us -----------------------------------------

    def observe(self, members, now):
        """The backend listed ``members``; return the changes as
        ``[(host, state, age, reason)]``."""
        recovering = self._failing_since is not None
        if recovering:
            self._settle_until = now + self.down_time
        self._failing_since = None
        self._last_ok = now
        settling = (self._settle_until is not None
                    and now < self._settle_until)
        if not settling:
            self._settle_until = None
        members = set(members)
        changes = []
        for host in sorted(members):
            known = self._hosts.get(host)
            if known is None or not known.present:
                reason = ('joined' if known is None
                          else 'heartbeating again')
                changes.append((host, UP, 0.0, reason))
            self._hosts[host] = _Host(True, now)
        for host in sorted(set(self._hosts) - members):
            known = self._hosts[host]
            if not known.present or settling:
                continue
            known.present = False
            changes.append((
                host, DOWN, now - known.last_seen,
                'no heartbeat for %.1fs or left: dropped from the group'
                % self.down_time))
        return changes

    def observe_group_missing(self, now):
        """The group does not exist: nobody ever joined, or the backend
        lost its data (a restart): the latter is treated like an outage."""
        present = any(h.present for h in self._hosts.values())
        if present and self._settle_until is None:
            self._settle_until = now + self.down_time
        return self.observe([], now)

    def observe_failure(self, now):
        """The backend could not be read; nothing changes state."""
        if self._failing_since is None:
            self._failing_since = now

    # -- what readers ask --------------------------------------------------

    def backend_ok(self, now):
        """True while the view is recent enough to be believed."""
        return (self._last_ok is not None
                and now - self._last_ok <= self.down_time)

    def state(self, host, now):
        """UP, DOWN or UNKNOWN (use Nova's own heartbeat then); O(1)."""
        if not self.backend_ok(now):
            return UNKNOWN
        known = self._hosts.get(host)
        if known is None:
            return UNKNOWN
        return UP if known.present else DOWN

    def last_seen(self, host):
        known = self._hosts.get(host)
        return None if known is None else known.last_seen

    def hosts(self, now):
        """{host: state} for every host this view has seen."""
        return {host: self.state(host, now) for host in self._hosts}
