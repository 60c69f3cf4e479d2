"""HostLivenessWatcher: the group membership, read by one thread per process.

The servicegroup driver answers Nova's is_up from a watcher's view, and the
engine subscribes to a watcher's events; both run this same code.  One read
of the backend per ``poll_interval`` whatever the number of is_up calls.
"""

from concurrent import futures
import threading
import time
import uuid

from oslo_log import log as logging
from tooz import coordination

from nova_ha.servicegroup import backend
from nova_ha.servicegroup import membership

LOG = logging.getLogger(__name__)


class HostLivenessWatcher:
    """Watch a tooz group; call ``on_change(HostLivenessEvent)`` on changes.

    :param coordinator_url: tooz URL (see backend.configured_url/timed_url:
        the URL must carry the expiry parameters the members use)
    :param group: tooz group id, e.g. backend.group_for_topic('compute')
    :param on_change: called from the watcher thread for each host event;
        exceptions are logged, never propagated
    :param down_time: seconds; also how long the view may be stale before
        it is not believed (state UNKNOWN)
    :param poll_interval: seconds between two reads of the membership
    :param clock: monotonic seconds (injectable for tests)
    :param wall_clock: epoch seconds stamped on events
    """

    def __init__(self, coordinator_url, group, on_change=None,
                 down_time=2.0, poll_interval=0.25, clock=time.monotonic,
                 wall_clock=time.time, member_id=None):
        self._url = coordinator_url
        self.group = group
        self._on_change = on_change
        self.poll_interval = float(poll_interval)
        self._clock = clock
        self._wall_clock = wall_clock
        self._member_id = member_id or 'watcher-%s' % uuid.uuid4().hex
        self.tracker = membership.MembershipTracker(down_time)
        self._coordinator = None
        self._stop = threading.Event()
        self._thread = None
        self._healthy = None
        # Reads run on their own thread so that a hung backend (tooz and
        # redis-py retry connection errors for about a minute) is noticed
        # after read_timeout, not after the client gives up.
        self.read_timeout = max(self.poll_interval, float(down_time) / 2)
        self._reader = None
        self._pending = None

    def __repr__(self):
        return '<HostLivenessWatcher group=%s url=%s>' % (
            self.group, backend.redact(self._url))

    # -- lifecycle --------------------------------------------------------

    def start(self):
        """Start the polling thread (returns at once; no network here)."""
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name='nova-ha-liveness-%s' % self.group,
            daemon=True)
        self._thread.start()

    def stop(self, timeout=5.0):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        if self._reader is not None:
            self._reader.shutdown(wait=False)
            self._reader = None
        if self._pending is None or self._pending.done():
            self._disconnect()

    # -- queries (O(1), any thread) ----------------------------------------

    def state(self, host):
        return self.tracker.state(host, self._clock())

    @property
    def healthy(self):
        """True while the view is recent enough to be believed."""
        return self.tracker.backend_ok(self._clock())

    def hosts(self):
        return self.tracker.hosts(self._clock())

    def last_seen_wall(self, host):
        """Wall-clock time this watcher last saw ``host`` as a member."""
        seen = self.tracker.last_seen(host)
        if seen is None:
            return None
        return self._wall_clock() - (self._clock() - seen)

    # -- the loop ---------------------------------------------------------

    def _run(self):
        while not self._stop.is_set():
            started = self._clock()
            self.poll_once()
            spent = self._clock() - started
            self._stop.wait(max(0.0, self.poll_interval - spent))

    def poll_once(self):
        """Read the membership once, update the view, emit the changes."""
        if self._reader is None:
            self._reader = futures.ThreadPoolExecutor(
                1, thread_name_prefix='nova-ha-liveness-read')
        if self._pending is None:
            self._pending = self._reader.submit(self._read_members)
        try:
            members = self._pending.result(timeout=self.read_timeout)
        except futures.TimeoutError as exc:
            # Still hanging: the same read is awaited on the next poll.
            self.tracker.observe_failure(self._clock())
            self._set_health(False, exc)
            return []
        except coordination.GroupNotCreated:
            self._pending = None
            changes = self.tracker.observe_group_missing(self._clock())
            self._set_health(True, None)
        except Exception as exc:  # any backend failure: keep the old view
            self._pending = None
            self.tracker.observe_failure(self._clock())
            self._set_health(False, exc)
            self._disconnect()
            return []
        else:
            self._pending = None
            changes = self.tracker.observe(members, self._clock())
            self._set_health(True, None)
        events = [self._event(*change) for change in changes]
        for event in events:
            self._emit(event)
        return events

    def _read_members(self):
        if self._coordinator is None:
            self._coordinator = backend.connect(self._url, self._member_id)
        raw = self._coordinator.get_members(self.group.encode()).get()
        return {m.decode() if isinstance(m, bytes) else m for m in raw}

    def _disconnect(self):
        coordinator, self._coordinator = self._coordinator, None
        if coordinator is not None:
            try:
                coordinator.stop()
            except Exception:  # already broken: nothing to release
                LOG.debug('closing liveness coordinator failed',
                          exc_info=True)

    def _set_health(self, ok, exc):
        # Log transitions only: is_up callers must never cause logging.
        if ok and self._healthy is False:
            LOG.warning('nova-ha liveness backend %s is readable again; '
                        'absences are believed after %.1fs of settling',
                        backend.redact(self._url), self.tracker.down_time)
        elif not ok and self._healthy is not False:
            LOG.warning('nova-ha liveness backend %s cannot be read (%s); '
                        'after %.1fs hosts are judged by Nova\'s database '
                        'heartbeat instead, none is reported down for it',
                        backend.redact(self._url), type(exc).__name__,
                        self.tracker.down_time)
        self._healthy = ok

    def _event(self, host, state, age, reason):
        return membership.HostLivenessEvent(
            host=host, state=state, observed_at=self._wall_clock(),
            last_heartbeat_age_s=round(age, 3), reason=reason)

    def _emit(self, event):
        log = LOG.warning if event.state == membership.DOWN else LOG.info
        log('nova-ha liveness: %s is %s (%s)', event.host, event.state,
            event.reason)
        if self._on_change is None:
            return
        try:
            self._on_change(event)
        except Exception:
            LOG.exception('nova-ha liveness: on_change failed for %s',
                          event)
