"""The engine's environment in a real cloud.

Nova through openstacksdk (every call bounded by ``api_timeout``), leases
through tooz (Redis, etcd, ZooKeeper; ``file://`` on one machine), the fence
drivers, and the SQL history, whose incidents carry the owner and the
generation (the fencing token).  Liveness comes from the servicegroup
watchers (a ``LivenessBoard`` they write), host reports from the
listeners (``report``).

A side effect is checked against its lease for as long as it may take
(``lease_valid(key, token, within=side_effect_timeout(action))``), and
held to that: a Nova side effect sends no request past its deadline
(``RequestDeadlines``), a fence is given up at its own.
"""

import collections
import concurrent.futures
import contextlib
import datetime
import math
import threading
import time
import urllib.parse
import uuid

from oslo_log import log as logging

from nova_ha.engine import env as engine_env
from nova_ha.engine import model
from nova_ha.engine import states
from nova_ha.history import store as history_store
from nova_ha.notifier import nova as ha_nova
from nova_ha.servicegroup import backend as sg_backend

LOG = logging.getLogger(__name__)

# Nova compares changes-since with its writers' clocks; the engine reads a
# little further back than it needs to (clocks agree within this, NTP).
CLOCK_MARGIN = 10.0

#: Seconds a Nova side effect may take unless told ([engine]
#: nova_api_timeout's default).
NOVA_TIMEOUT = 30.0

#: Seconds a fence may take unless told: [fencing] timeout's default,
#: overrun by one BMC call of request_timeout's default, and the close of
#: the BMC session.
FENCE_DEADLINE = 60.0 + 2 * 5.0


class FenceTimeout(Exception):
    """A fence did not end within its deadline."""


class SideEffectDeadline(Exception):
    """A request of a side effect would have left after its deadline."""


def _epoch(value):
    if value is None:
        return 0.0
    if isinstance(value, str):
        from oslo_utils import timeutils
        value = timeutils.parse_isotime(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)
    return value.timestamp()


def _iso(epoch):
    return datetime.datetime.fromtimestamp(
        epoch, datetime.timezone.utc).isoformat()


class LivenessBoard:
    """Host liveness as the servicegroup watchers last reported it, and
    when each host was last reported lost."""

    def __init__(self, clock=time.time):
        self._hosts = {}
        self._lost_at = {}
        self._lock = threading.Lock()
        self._clock = clock
        self.available = True

    def set(self, host, alive):
        with self._lock:
            state = model.ALIVE if alive else model.LOST
            if state == model.LOST and self._hosts.get(host) != model.LOST:
                self._lost_at[host] = self._clock()
            self._hosts[host] = state

    def snapshot(self):
        if not self.available:
            raise engine_env.Unavailable('coordination backend unreachable')
        with self._lock:
            return dict(self._hosts)

    def lost_at(self):
        """host -> when it was reported lost, for the hosts lost now."""
        if not self.available:
            raise engine_env.Unavailable('coordination backend unreachable')
        with self._lock:
            return {h: self._lost_at[h] for h, state in self._hosts.items()
                    if state == model.LOST and h in self._lost_at}


class RequestDeadlines:
    """Holds the HTTP requests a thread sends to Nova to a deadline.

    openstacksdk's timeout (keystoneauth's) bounds one request's connect
    and each of its reads; a side effect may send several (a token, the
    version discovery, a look-up of the service, the call itself), and
    keystoneauth retries some.  Under ``until(seconds)`` no request leaves
    the thread once the deadline has passed, and each may wait only what
    is left of it.  Other threads, the VM flows' on the same connection,
    are not held.
    """

    def __init__(self):
        self._local = threading.local()

    @classmethod
    def install(cls, nova):
        """Deadlines for the requests of ``nova``'s openstacksdk
        connection (a stand-in without one sends no request)."""
        deadlines = cls()
        session = getattr(getattr(nova, 'conn', None), 'session', None)
        http = getattr(session, 'session', None)     # requests.Session
        if http is not None:
            deadlines._hold(http)
        return deadlines

    def _hold(self, http):
        send = http.request

        def request(method, url, **kwargs):
            left = self._left()
            if left is not None:
                if left <= 0:
                    raise SideEffectDeadline(
                        '%s %s not sent: the side effect is past its '
                        'deadline' % (method, urllib.parse.urlsplit(
                            url).path))
                kwargs['timeout'] = _clip(kwargs.get('timeout'), left)
            return send(method, url, **kwargs)
        http.request = request

    @contextlib.contextmanager
    def until(self, seconds):
        self._local.deadline = time.monotonic() + seconds
        try:
            yield
        finally:
            self._local.deadline = None

    def _left(self):
        deadline = getattr(self._local, 'deadline', None)
        return None if deadline is None else deadline - time.monotonic()


def _clip(timeout, left):
    """A requests timeout (None, seconds, or (connect, read)) no longer
    than ``left``."""
    if isinstance(timeout, tuple):
        return tuple(left if t is None else min(t, left) for t in timeout)
    return left if timeout is None else min(timeout, left)


class ToozLeases:
    """One tooz lock per incident, kept only by the loop's progress.

    With Redis (and etcd, memcached) the lock's TTL is the coordination
    URL's ``lock_timeout``, and nothing but ``renew``, which the loop calls
    on every look, extends it: a loop blocked longer than that (on a
    silent database, say) loses its leases, and another replica can take
    its incidents over while it cannot act.  tooz's heart is therefore
    never started: it re-acquires every lock its coordinator holds on each
    beat (RedisDriver.heartbeat), whatever the loop does.  This coordinator
    joins no group, so it needs no membership heartbeat either; liveness
    is kept by coordinators of its own (servicegroup).

    Each lease's local expiry is read on this process's monotonic clock
    before the request that took or renewed it was sent, so it is never
    later than the backend's; a renewal that fails extends nothing (the
    lease is dropped).  Backends without a TTL (file://, ZooKeeper, whose
    locks live as long as the process or its session) leave it unbounded.
    """

    def __init__(self, url, member_id=None, clock=time.monotonic):
        from tooz import coordination
        self.coordinator = coordination.get_coordinator(
            url, (member_id or 'nova-ha-engine-%s' % uuid.uuid4()).encode())
        self.coordinator.start(start_heart=False)
        sg_backend.one_try_per_command(self.coordinator)
        lock_timeout = getattr(self.coordinator, 'lock_timeout', None)
        #: Seconds a lease lives unless renewed; None: until released.
        self.ttl = float(lock_timeout) if lock_timeout else None
        self._clock = clock
        self._locks = {}
        self._expiry = {}        # key -> local expiry (monotonic)
        self._guard = threading.Lock()

    def _lock(self, key):
        return self.coordinator.get_lock(('nova-ha-incident-' + key).encode())

    def _expires(self, sent_at):
        return math.inf if self.ttl is None else sent_at + self.ttl

    def acquire(self, key):
        from tooz import ToozError
        with self._guard:
            if key in self._locks:
                return True
            lock = self._lock(key)
            sent_at = self._clock()
            try:
                got = lock.acquire(blocking=False)
            except ToozError as e:
                raise engine_env.Unavailable(str(e)) from e
            if got:
                self._locks[key] = lock
                self._expiry[key] = self._expires(sent_at)
            return bool(got)

    def owned(self, key):
        """Cheap check before a side effect: we hold it, and (when the
        backend can tell) it still names us."""
        from tooz import NotImplemented as ToozNotImplemented
        from tooz import ToozError
        with self._guard:
            lock = self._locks.get(key)
        if lock is None:
            return False
        try:
            return bool(lock.is_still_owner())
        except ToozNotImplemented:
            return True
        except ToozError as e:
            raise engine_env.Unavailable(str(e)) from e

    def renew(self, key):
        """Extend the lease by the TTL from now; False (and dropped) when
        the backend no longer names us or does not answer."""
        from tooz import ToozError
        with self._guard:
            lock = self._locks.get(key)
        if lock is None:
            return False
        sent_at = self._clock()
        try:
            if not self.owned(key):
                raise ToozError('the backend no longer names us')
            heartbeat = getattr(lock, 'heartbeat', None)
            if heartbeat is not None and not heartbeat():
                raise ToozError('the lock could not be extended')
        except (ToozError, engine_env.Unavailable) as e:
            LOG.warning('lease of %s lost: %s', key, e)
            self.forget(key)
            return False
        with self._guard:
            if self._locks.get(key) is lock:
                self._expiry[key] = self._expires(sent_at)
        return True

    def time_left(self, key):
        """Seconds the lease of ``key`` surely lasts by the local expiry
        (0 when it is not held here, math.inf without a TTL)."""
        with self._guard:
            expiry = self._expiry.get(key)
        if expiry is None:
            return 0.0
        return max(0.0, expiry - self._clock())

    def held_here(self, key):
        with self._guard:
            return key in self._locks

    def forget(self, key):
        with self._guard:
            self._locks.pop(key, None)
            self._expiry.pop(key, None)

    def release(self, key):
        from tooz import ToozError
        with self._guard:
            lock = self._locks.pop(key, None)
            self._expiry.pop(key, None)
        if lock is not None:
            try:
                lock.release()
            except ToozError as e:
                LOG.warning('could not release the lease of %s: %s', key, e)

    def stop(self):
        for key in list(self._locks):
            self.release(key)
        self.coordinator.stop()


class RealEnvironment(engine_env.Environment):
    """``fencer(host)`` -> FenceResult; ``power_reader(host)`` -> 'on' |
    'off' | 'unknown'.

    ``nova_timeout``: seconds one Nova side effect may take, every request
    it sends included (``[engine] nova_api_timeout``); ``fence_deadline``:
    host -> seconds its fence may take (``[fencing] timeout`` and the BMC
    calls that may overrun it).  Each side effect is held to its own
    (``side_effect_timeout``), so that one checked against a lease that
    outlasts it ends before the lease can lapse."""

    def __init__(self, me, nova, history, leases, fencer, power_reader,
                 liveness=None, clock=time.time, peer_reader=None,
                 nova_timeout=NOVA_TIMEOUT, fence_deadline=None):
        self.me = me
        self.nova = nova
        self.history = history
        self.leases = leases
        self._fencer = fencer
        self._power_reader = power_reader
        self._nova_timeout = float(nova_timeout)
        self._fence_deadline = fence_deadline or (lambda host:
                                                  FENCE_DEADLINE)
        self._requests = RequestDeadlines.install(nova)
        self._cap = threading.local()      # a side effect's deadline
        self.liveness_board = liveness or LivenessBoard()
        self._clock = clock
        self._reports = collections.deque()
        self._events = collections.deque()
        # servicegroup.peer_views.PeerViewReader; None: no peer channel.
        self._peer_reader = peer_reader

    def report(self, host, kind):
        """A host report ('down' or 'up') from a monitor or a watcher."""
        self._reports.append((host, kind, self._clock()))

    # -- observe -----------------------------------------------------------

    def _nova_call(self, fn, *args):
        try:
            return fn(*args)
        except ha_nova.NovaError as e:
            raise engine_env.Unavailable(str(e)) from e
        except Exception as e:     # timeouts and connection errors
            raise engine_env.Unavailable('%s: %s' % (type(e).__name__, e)) \
                from e

    def _history_call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except history_store.HistoryUnavailable as e:
            raise engine_env.Unavailable(str(e)) from e

    def compute_services(self):
        now = self._clock()
        found = {}
        for s in self._nova_call(self.nova.compute_services):
            updated = s.get('updated_at')
            found[s['host']] = model.Service(
                host=s['host'], id=s['id'], up=s['state'] == 'up',
                forced_down=bool(s['forced_down']),
                disabled=s['status'] == 'disabled',
                disabled_reason=s['disabled_reason'],
                heartbeat_age=max(0.0, now - _epoch(updated))
                if updated else None)
        return found

    def liveness(self):
        return self.liveness_board.snapshot()

    def lost_at(self):
        return self.liveness_board.lost_at()

    def peer_views(self, hosts):
        if self._peer_reader is None:
            return None
        from nova_ha.servicegroup import peer_views
        try:
            return self._peer_reader.read(hosts)
        except peer_views.Unreadable as e:
            raise engine_env.Unavailable(str(e)) from e

    def aggregates(self):
        return tuple(model.Aggregate(a.id, a.name, tuple(a.hosts),
                                     dict(a.metadata))
                     for a in self._nova_call(self.nova.aggregates))

    def incidents(self):
        rows = self._history_call(self.history.list_incidents)
        found, latest = [], {}
        for row in rows:
            stored = self._stored(row)
            if not stored.closed:
                found.append(stored)
            else:
                latest[states.numbered(row.key)] = stored
        return tuple(found + sorted(latest.values(), key=lambda i: i.key))

    def servers_on(self, host):
        return tuple(_server(s) for s in
                     self._nova_call(self.nova.servers_on, host))

    def servers(self, vm_ids, host=None, since=None):
        """The VMs of a failed host changed since the incident opened at
        ``since`` (moved, restarted, deleted: one list of the cloud's
        changes); without ``since``, each VM read on its own."""
        wanted = set(vm_ids)
        if since is None:
            return {vm: self._server(vm) for vm in wanted}
        changed = self._nova_call(self.nova.all_servers,
                                  _iso(since - CLOCK_MARGIN))
        return {s['id']: _server(s) for s in changed if s['id'] in wanted}

    def _server(self, vm):
        try:
            return _server(self.nova.server(vm))
        except ha_nova.NovaError as e:
            if e.status == 404:
                return model.Server(vm, '', None, 'DELETED')
            raise engine_env.Unavailable(str(e)) from e
        except Exception as e:     # timeouts and connection errors
            raise engine_env.Unavailable('%s: %s' % (type(e).__name__, e)) \
                from e

    def migrations(self, vm_ids, host=None, since=None):
        wanted = set(vm_ids)
        found = {vm: [] for vm in wanted}
        for m in self._nova_call(self.nova.moves_from, host):
            if m['instance'] in wanted:
                found[m['instance']].append(model.Migration(
                    m['id'], m['instance'], m['type'], m['status'],
                    m['source'], m['dest'], _epoch(m['created_at'])))
        return {vm: tuple(ms) for vm, ms in found.items()}

    def take_reports(self):
        return _drain(self._reports)

    def report_event(self, report):
        """A monitor's report of a VM or process failure (model.Report)."""
        self._events.append(report)

    def take_events(self):
        return _drain(self._events)

    def stopped_by_user(self, vm):
        return self._nova_call(self.nova.stopped_by_user, vm)

    # -- leases ------------------------------------------------------------

    def renew(self, key, token):
        return self.leases.renew(key)

    def lease_free(self, key):
        if self.leases.held_here(key):
            return True      # ours, but its incident was lost on the way
        if self.leases.acquire(key):
            return True      # kept: take_over uses it
        return False

    def lease_valid(self, key, token, within=0.0):
        if self.leases.time_left(key) < within:
            return False          # known without asking anyone
        if not self.leases.owned(key):
            return False
        row = self._history_call(self.history.get_incident, key)
        if row is None or not row.is_open or row.generation != token:
            return False
        # Both answers took time out of the lease.
        return self.leases.time_left(key) >= within

    def lease_left(self, key):
        return self.leases.time_left(key)

    @contextlib.contextmanager
    def deadline(self, seconds):
        """Side effects in this thread give up after ``seconds`` (their own
        timeouts are cut to it)."""
        self._cap.until = time.monotonic() + seconds
        try:
            yield
        finally:
            self._cap.until = None

    def _within(self, timeout):
        """``timeout`` cut to this thread's deadline."""
        until = getattr(self._cap, 'until', None)
        if until is None:
            return timeout
        return max(0.0, min(timeout, until - time.monotonic()))

    def side_effect_timeout(self, action):
        if isinstance(action, model.Fence):
            return self._fence_deadline(action.host)
        if isinstance(action, _NOVA_SIDE_EFFECTS):
            return self._nova_timeout
        # The history's writes carry the generation into the statement,
        # which the database refuses once another owner bumped it; the
        # rest (notes, reads of a BMC, lease verbs) is not guarded.
        return 0.0

    def open_incident(self, host, sequence, reason, kind=states.KIND,
                      subject=None, facts=None):
        key = states.key_for(host, sequence, kind, subject)
        if not self.leases.acquire(key):
            return None
        try:
            row, created = self._history_call(
                self.history.open_incident, key, kind, host=host,
                instance=(facts or {}).get('vm'),
                state=states.TABLES[kind].initial, owner=self.me,
                generation=1, detail=dict(facts or {}))
        except Exception:
            self.leases.release(key)
            raise
        if not created:
            self.leases.release(key)
            return None
        self._record('transition', '%s opened: %s' % (key, reason),
                     host=host, incident=key, token=1)
        return self._stored(row)

    def take_over(self, key, generation):
        if not self.leases.held_here(key) and not self.leases.acquire(key):
            return None
        new = self._history_call(self.history.claim_incident, key, self.me,
                                 generation)
        if new is None:
            self.leases.release(key)
            return None
        return self._stored(self._history_call(self.history.get_incident,
                                               key))

    def _stored(self, row):
        return model.StoredIncident(
            key=row.key, host=row.host, state=row.state,
            opened_at=_epoch(row.opened_at), since=_epoch(row.updated_at),
            owner=row.owner, generation=row.generation,
            facts=dict(row.detail or {}), operator=dict(row.operator or {}),
            closed=not row.is_open)

    def release(self, key):
        self.leases.release(key)

    # -- the history -----------------------------------------------------------

    def _record(self, kind, message, **fields):
        LOG.info('[%s] %s', kind, message)
        self._history_call(self.history.record, kind, message, **fields)

    def save(self, key, token, state, facts, records):
        # The state and the records that explain it in one transaction.
        rows = []
        for r in records:
            if isinstance(r, model.Note):
                rows.append(dict(kind=r.kind, message=r.message, host=r.host,
                                 instance=r.instance, outcome=r.outcome,
                                 detail=r.detail, token=token or None))
            else:
                rows.append(dict(kind='transition', message=r.line(),
                                 host=r.host, outcome=r.after,
                                 token=token or None))
        if not self._history_call(self.history.save_incident, key,
                                  generation=token, state=state,
                                  detail=dict(facts), records=rows):
            return False
        for row in rows:
            LOG.info('[%s] %s', row['kind'], row['message'])
        return True

    def note(self, kind, message, *, incident=None, token=0, host=None,
             instance=None, outcome=None, detail=None):
        self._record(kind, message, incident=incident, token=token or None,
                     host=host, instance=instance, outcome=outcome,
                     detail=detail)

    def clear_request(self, key, request, token):
        self._history_call(self.history.clear_operator_request, key,
                           request, token)

    def relay(self, key, request, details):
        self._history_call(self.history.operator_request, key, request,
                           who='nova-ha-monitor',
                           reason=', '.join('%s %s' % item for item in
                                            sorted(details.items()))
                           or 'reported')

    # -- side effects ------------------------------------------------------------

    def read_power(self, host):
        return self._power_reader(host) or 'unknown'

    def fence(self, host):
        # The drivers bound each BMC call and the procedure checks its
        # deadline between calls; a driver that does not (a call stuck in
        # a library) must not hold the action past what the lease was
        # checked for.  Its thread is left to end by itself: a late
        # power-off of this host is what was asked, and its result, which
        # nobody reads, is no proof.
        deadline = self._within(self._fence_deadline(host))
        done = concurrent.futures.Future()
        threading.Thread(target=_settle, args=(done, self._fencer, host),
                         name='nova-ha-fence-%s' % host, daemon=True).start()
        try:
            return done.result(timeout=deadline)
        except concurrent.futures.TimeoutError:
            raise FenceTimeout('the fence of %s did not end within its '
                               'deadline of %.1f s' % (host, deadline)) \
                from None

    def force_down(self, host, service_id):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.force_down(host, service_id=service_id)

    def disable(self, host, reason):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.disable(host, reason)

    def evacuate(self, vm, keep_running):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.evacuate(vm, keep_running=keep_running)

    def reset_stale_task(self, vm, source, task_state, to_state):
        # One deadline for the reads and the reset: the reads are what
        # makes the reset safe, and they must be recent.
        with self._requests.until(self._within(self._nova_timeout)):
            server = self.nova.server(vm)
            if server['host'] != source or \
                    server['task_state'] != task_state:
                return 'changed since it was read'
            moving = [m for m in self.nova.moves_from(source)
                      if m['instance'] == vm and
                      m['status'] in model.MIGRATION_IN_FLIGHT]
            if moving:
                return 'a move is in flight (%s)' % moving[-1]['status']
            self.nova.reset_state(vm, to_state)
            return 'reset'

    def set_power(self, vm, want):
        with self._requests.until(self._within(self._nova_timeout)):
            if want == 'ACTIVE':
                self.nova.start(vm)
            elif want == 'SHUTOFF':
                self.nova.stop(vm)
            else:
                self.nova.reset_state(vm, 'error')

    def release_reserved(self, host, aggregate):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.remove_host_from_aggregate(aggregate, host)

    def restart_vm(self, vm, how):
        with self._requests.until(self._within(self._nova_timeout)):
            if how == 'start':
                self.nova.start(vm)
            else:
                self.nova.hard_reboot(vm)

    def migrate_vm(self, vm):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.migrate(vm)

    def confirm_move(self, vm):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.confirm_resize(vm)

    def enable(self, host):
        with self._requests.until(self._within(self._nova_timeout)):
            self.nova.enable(host)


_NOVA_SIDE_EFFECTS = (model.ForceDown, model.Disable, model.Evacuate,
                      model.ResetStaleTask, model.SetPower,
                      model.ReleaseReserved, model.RestartVM,
                      model.MigrateVM, model.ConfirmMove, model.Enable)


def _drain(queue):
    taken = []
    while queue:
        taken.append(queue.popleft())
    return taken


def _settle(future, fn, *args):
    try:
        future.set_result(fn(*args))
    except BaseException as e:      # handed to the waiting caller
        future.set_exception(e)


def _server(s):
    return model.Server(s['id'], s.get('name') or '', s.get('host'),
                        s.get('status') or '', s.get('task_state'),
                        dict(s.get('metadata') or {}))
