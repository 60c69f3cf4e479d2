"""HAServiceGroupDriver: Nova's servicegroup driver interface on tooz.

Nova's ``servicegroup.API`` calls ``join`` when a service starts,
``is_up`` for every service it judges (os-services, the scheduler's
ComputeFilter, evacuate/live-migration checks, availability zones, ...)
and ``updated_time`` for os-services.  For the topics in
``[ha_servicegroup] topics`` (compute by default):

- ``join`` keeps Nova's DB heartbeat (the fallback and the engine's second
  channel) and adds a tooz heartbeat on the service's own timer;
- ``is_up`` reads this process's shared watcher view: a dict lookup, no
  network call.  UP/DOWN come from the group membership; UNKNOWN (host never
  seen since the watcher started, or backend unreadable) is answered with
  Nova's DB rule, so a backend outage never reports everything down.

Other topics are answered by Nova's DbDriver unchanged.
"""

import datetime
import threading

from nova.servicegroup.drivers import base
from nova.servicegroup.drivers import db
from oslo_log import log as logging

from nova_ha import conf as ha_conf
from nova_ha.servicegroup import backend
from nova_ha.servicegroup import heartbeat
from nova_ha.servicegroup import membership
from nova_ha.servicegroup import watcher

LOG = logging.getLogger(__name__)
CONF = ha_conf.CONF

# One watcher per (url, group) and one heartbeater per (url, group, member)
# in a process: Nova builds many servicegroup.API objects (one per API
# controller, filter, manager), and they must share one view.
_LOCK = threading.Lock()
_WATCHERS = {}
_HEARTBEATERS = {}


def shared_watcher(url, group, down_time, poll_interval):
    """The process's watcher of ``group``, started on first use."""
    key = (url, group)
    with _LOCK:
        found = _WATCHERS.get(key)
        if found is None:
            found = watcher.HostLivenessWatcher(
                url, group, down_time=down_time, poll_interval=poll_interval)
            found.start()
            _WATCHERS[key] = found
        return found


def _register_heartbeater(beater):
    key = (beater._url, beater.group, beater.member)
    with _LOCK:
        previous = _HEARTBEATERS.get(key)
        _HEARTBEATERS[key] = beater
    if previous is not None:
        # The same service started again in this process: the previous
        # incarnation was stopped (its timer is gone); release its record.
        previous.stop(leave=False)


def reset():
    """Stop every shared watcher and heartbeater (tests, process exit)."""
    with _LOCK:
        watchers = list(_WATCHERS.values())
        beaters = list(_HEARTBEATERS.values())
        _WATCHERS.clear()
        _HEARTBEATERS.clear()
    for item in watchers:
        item.stop()
    for item in beaters:
        item.stop()


class HAServiceGroupDriver(base.Driver):
    """Nova servicegroup driver whose liveness comes from tooz membership."""

    def __init__(self, *args, **kwargs):
        self._db = db.DbDriver(*args, **kwargs)
        opts = CONF.ha_servicegroup
        self.down_time = opts.down_time
        self.heartbeat_interval = opts.heartbeat_interval
        if self.down_time < 2 * self.heartbeat_interval:
            LOG.warning('nova-ha: [ha_servicegroup] down_time %.2fs is less '
                        'than two heartbeat intervals (%.2fs): using %.2fs',
                        self.down_time, self.heartbeat_interval,
                        2.5 * self.heartbeat_interval)
            self.down_time = 2.5 * self.heartbeat_interval
        self.poll_interval = opts.poll_interval
        self.topics = frozenset(opts.topics)
        self.url = backend.timed_url(backend.base_url(CONF), self.down_time,
                                     self.heartbeat_interval)
        self._watchers = {}

    def __repr__(self):
        return '<HAServiceGroupDriver %s>' % backend.redact(self.url)

    # -- Nova's interface ------------------------------------------------

    def join(self, member, group, service=None):
        self._db.join(member, group, service)
        if group not in self.topics:
            return
        beater = heartbeat.Heartbeater(
            self.url, backend.group_for_topic(group), member,
            self.heartbeat_interval, self.down_time)
        _register_heartbeater(beater)
        LOG.info('nova-ha: %s joins %s on %s every %.2fs (down after %.2fs)',
                 member, beater.group, backend.redact(self.url),
                 self.heartbeat_interval, self.down_time)
        service.tg.add_timer_args(self.heartbeat_interval, beater.beat,
                                  initial_delay=0,
                                  stop_on_exception=False)

    def is_up(self, service_ref):
        topic = service_ref['topic']
        if topic not in self.topics:
            return self._db.is_up(service_ref)
        state = self._watcher(topic).state(service_ref['host'])
        if state == membership.UP:
            return True
        if state == membership.DOWN:
            return False
        return self._db.is_up(service_ref)

    def updated_time(self, service_ref):
        updated = self._db.updated_time(service_ref)
        topic = service_ref['topic']
        if topic not in self.topics:
            return updated
        view = self._watcher(topic)
        if view.state(service_ref['host']) != membership.UP:
            return updated
        seen = view.last_seen_wall(service_ref['host'])
        seen = datetime.datetime.fromtimestamp(seen, datetime.timezone.utc)
        if updated is None or _aware(updated) < seen:
            return seen
        return updated

    # -- helpers ------------------------------------------------------------

    def _watcher(self, topic):
        found = self._watchers.get(topic)
        if found is None:
            found = shared_watcher(self.url, backend.group_for_topic(topic),
                                   self.down_time, self.poll_interval)
            self._watchers[topic] = found
        return found


def _aware(moment):
    if moment.tzinfo is None:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment
