"""LibvirtEventMonitor: libvirt domain events -> vm.failure for the engine.

Threads:

- libvirt's event loop (one per process, ``virEventRunDefaultImpl``): runs
  every callback, keepalives included.  Callbacks only classify (under a
  lock, in memory) and queue; they never publish.
- the connection thread: opens the read-only connection, subscribes,
  reads every domain's state, and reopens the connection with back-off
  when it closes (libvirtd exited or restarted, keepalive timeout).  After
  each reopening it compares the domains' states with what it knew and
  reports, once, a failure that happened while it was disconnected
  (libvirt does not replay events).  While connected it re-reads the
  states every ``resync_interval``: libvirt sends no event for a guest
  that dies while a restarted libvirtd is still re-attaching to it (seen
  with libvirt 9.0: the guest is then found "shut off (daemon)").
- the outbox thread (libvirt_outbox): publishes in order and retries what
  the bus refused.

The domain UUID is the Nova instance UUID (Nova names the libvirt domain
``instance-XXXXXXXX`` but gives it the instance's UUID), so a failure is
reported with ``instance`` = the domain UUID.

Domains already failed when the monitor starts are not reported: nothing
says whether an earlier monitor did, and Nova's power-state sync (which
the engine follows as ``nova_power_sync``) covers that window.
"""

import threading
import time

import libvirt
from oslo_log import log as logging

from nova_ha.compute_hooks import libvirt_events
from nova_ha.compute_hooks import libvirt_outbox
from nova_ha.notifier import events

LOG = logging.getLogger(__name__)

_CLOSE_REASONS = {
    libvirt.VIR_CONNECT_CLOSE_REASON_ERROR: 'I/O error',
    libvirt.VIR_CONNECT_CLOSE_REASON_EOF: 'end of file (libvirtd exited?)',
    libvirt.VIR_CONNECT_CLOSE_REASON_KEEPALIVE: 'keepalive timeout',
    libvirt.VIR_CONNECT_CLOSE_REASON_CLIENT: 'closed by the client',
}
_MAX_DETAIL = 1024


def _log_libvirt_error(_context, error):
    # libvirt prints every error to stderr unless a handler is set; the
    # calls that fail raise libvirtError as well, and are logged there.
    LOG.debug('libvirt: %s', error[2] if len(error) > 2 else error)


class _EventLoop:
    """libvirt's default event loop: registered once per process, run by a
    daemon thread for the life of the process (it cannot be unregistered;
    every monitor in the process shares it)."""

    _lock = threading.Lock()
    _thread = None

    @classmethod
    def ensure_running(cls):
        with cls._lock:
            if cls._thread is not None:
                return
            libvirt.registerErrorHandler(_log_libvirt_error, None)
            libvirt.virEventRegisterDefaultImpl()
            cls._thread = threading.Thread(target=cls._run,
                                           name='libvirt-event-loop',
                                           daemon=True)
            cls._thread.start()

    @staticmethod
    def _run():
        while True:
            try:
                libvirt.virEventRunDefaultImpl()
            except Exception:
                LOG.exception('libvirt event loop iteration failed')
                time.sleep(0.1)   # do not spin on a persistent error


class _Session:
    """One open connection and the callbacks registered on it."""

    def __init__(self, conn):
        self.conn = conn
        self.callback_ids = []
        self.close_reason = None
        self._closed = False

    def close(self):
        if self._closed:
            return
        self._closed = True
        for callback_id in self.callback_ids:
            try:
                self.conn.domainEventDeregisterAny(callback_id)
            except libvirt.libvirtError:
                pass   # the connection is already gone
        for step in (self.conn.unregisterCloseCallback, self.conn.close):
            try:
                step()
            except libvirt.libvirtError:
                pass


class LibvirtEventMonitor:
    """Watch one libvirt connection and report VM failures.

    :param conf: oslo.config ConfigOpts with nova_ha's options registered
        (``[libvirt_monitor]``)
    :param publisher: compute_hooks.publisher.EventPublisher for this host
        (source ``libvirt``)

    ``start()`` returns at once (the connection is opened in the
    background, retried until libvirtd answers); ``wait_connected()``
    waits for it; ``stop()`` closes it and stops publishing.
    """

    def __init__(self, conf, publisher):
        options = conf.libvirt_monitor
        self.uri = options.connection_uri
        self._keepalive = (options.keepalive_interval,
                           options.keepalive_count)
        self._reconnect_min = options.reconnect_interval
        self._reconnect_max = max(options.reconnect_interval_max,
                                  options.reconnect_interval)
        self._resync_interval = options.resync_interval or None
        self._tracker = libvirt_events.DomainTracker(options.failure_events)
        self._tracker_lock = threading.Lock()
        self.outbox = libvirt_outbox.Outbox(
            publisher, options.publish_retry_interval_max)
        self._cond = threading.Condition()
        self._stopping = False
        self._session = None
        self._connections = 0
        self._thread = None

    # -- life cycle ---------------------------------------------------------

    def start(self):
        if self._thread is not None:
            raise RuntimeError('the libvirt event monitor is already running')
        _EventLoop.ensure_running()
        self.outbox.start()
        self._thread = threading.Thread(target=self._run,
                                        name='nova-ha-libvirt-connection',
                                        daemon=True)
        self._thread.start()
        LOG.info('libvirt event monitor started on %s, reporting %s',
                 self.uri, ', '.join(sorted(self._tracker.failure_kinds)))

    def stop(self, timeout=10.0):
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
        self.outbox.stop(timeout)
        LOG.info('libvirt event monitor on %s stopped', self.uri)

    @property
    def connected(self):
        with self._cond:
            return self._session is not None

    @property
    def connections(self):
        """How many times a connection was opened and caught up."""
        with self._cond:
            return self._connections

    def wait_connected(self, timeout=None, connections=1):
        """Wait until connected, subscribed and caught up, having connected
        at least ``connections`` times since start; True when so."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._session is not None and
                self._connections >= connections, timeout)

    def condition(self, uuid):
        """What the monitor last knew of a domain, e.g. ``running`` or
        ``shutoff:destroyed`` (None: unknown); for diagnostics and tests."""
        with self._tracker_lock:
            return self._tracker.condition(uuid)

    # -- the connection thread ----------------------------------------------

    def _run(self):
        interval = self._reconnect_min
        caught_up_once = False
        while not self._stopping:
            try:
                session = self._open()
                self._catch_up(session, report=caught_up_once)
            except Exception as exc:
                if isinstance(exc, libvirt.libvirtError):
                    LOG.warning('cannot watch libvirt at %s: %s; retrying '
                                'in %.1f s', self.uri, exc, interval)
                else:
                    LOG.exception('watching libvirt at %s failed; retrying '
                                  'in %.1f s', self.uri, interval)
                if self._sleep(interval):
                    interval = min(interval * 2, self._reconnect_max)
                continue
            caught_up_once = True
            interval = self._reconnect_min
            with self._cond:
                self._session = session
                self._connections += 1
                self._cond.notify_all()
            self._watch(session)
            with self._cond:
                self._session = None
            session.close()

    def _watch(self, session):
        """Until the connection closes or the monitor stops, re-reading the
        domains' states every resync interval."""
        while True:
            with self._cond:
                if self._cond.wait_for(
                        lambda: session.close_reason is not None or
                        self._stopping, self._resync_interval):
                    if not self._stopping:
                        LOG.warning('libvirt connection to %s lost: %s; '
                                    'reconnecting', self.uri,
                                    session.close_reason)
                    return
            try:
                self._catch_up(session, report=True, periodic=True)
            except libvirt.libvirtError as exc:
                LOG.warning('re-reading the domains from %s failed (%s); '
                            'reconnecting', self.uri, exc)
                return
            except Exception:
                LOG.exception('re-reading the domains from %s failed; '
                              'reconnecting', self.uri)
                return

    def _sleep(self, seconds):
        """Wait unless stopping; False when stopping."""
        with self._cond:
            return not self._cond.wait_for(lambda: self._stopping, seconds)

    def _open(self):
        session = _Session(libvirt.openReadOnly(self.uri))
        try:
            try:
                session.conn.setKeepAlive(*self._keepalive)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() != libvirt.VIR_ERR_NO_SUPPORT:
                    raise
                LOG.debug('%s has no keepalive (a local driver)', self.uri)
            session.conn.registerCloseCallback(self._on_close, session)
            for event_id, callback in (
                    (libvirt.VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                     self._on_lifecycle),
                    (libvirt.VIR_DOMAIN_EVENT_ID_WATCHDOG, self._on_watchdog),
                    (libvirt.VIR_DOMAIN_EVENT_ID_IO_ERROR_REASON,
                     self._on_io_error),
                    (libvirt.VIR_DOMAIN_EVENT_ID_CONTROL_ERROR,
                     self._on_control_error),
                    (libvirt.VIR_DOMAIN_EVENT_ID_REBOOT, self._on_reboot)):
                session.callback_ids.append(
                    session.conn.domainEventRegisterAny(
                        None, event_id, callback, session))
        except Exception:
            session.close()
            raise
        return session

    def _catch_up(self, session, report, periodic=False):
        """Read every domain's state (after subscribing, so nothing falls
        between the two) and reconcile it with what was known."""
        with self._tracker_lock:
            since = self._tracker.snapshot_started()
        try:
            states = [libvirt_events.DomainState(
                domain.UUIDString(), domain.name(), stats['state.state'],
                stats['state.reason']) for domain, stats in
                session.conn.getAllDomainStats(libvirt.VIR_DOMAIN_STATS_STATE)]
        except Exception:
            session.close()
            raise
        with self._tracker_lock:
            found = self._tracker.reconcile(states, since, report=report)
        for name in found.vanished:
            LOG.warning('domain %s was running and is gone after '
                        'reconnecting to libvirt: why it stopped is not '
                        'known, not reported', name)
        for failure in found.failures:
            self._report(failure)
        if periodic:
            LOG.log(logging.WARNING if found.failures else logging.DEBUG,
                    'state check of %d domain(s) on %s: %d failure(s) '
                    'without an event', len(states), self.uri,
                    len(found.failures))
        else:
            LOG.info('watching %d domain(s) on %s%s', len(states), self.uri,
                     '; %d failure(s) happened while disconnected' %
                     len(found.failures) if report else '')

    # -- libvirt callbacks (event loop thread: classify, queue, return) -----

    def _on_close(self, _conn, reason, session):
        with self._cond:
            session.close_reason = _CLOSE_REASONS.get(reason, str(reason))
            self._cond.notify_all()

    def _on_lifecycle(self, _conn, domain, event, detail, _session):
        self._observe(domain, libvirt_events.LIFECYCLE, event=event,
                      detail=detail)

    def _on_watchdog(self, _conn, domain, action, _session):
        self._observe(domain, libvirt_events.WATCHDOG_EVENT, action=action)

    def _on_io_error(self, _conn, domain, src_path, dev_alias, action,
                     reason, _session):
        device = '%s (%s)' % (dev_alias, src_path) if src_path else dev_alias
        self._observe(domain, libvirt_events.IO_ERROR_EVENT, action=action,
                      reason=reason, device=device)

    def _on_control_error(self, _conn, domain, _session):
        self._observe(domain, libvirt_events.CONTROL_ERROR_EVENT)

    def _on_reboot(self, _conn, domain, _session):
        self._observe(domain, libvirt_events.REBOOT_EVENT)

    def _observe(self, domain, event_type, **values):
        try:
            event = libvirt_events.DomainEvent(
                domain.UUIDString(), domain.name(), event_type, **values)
            with self._tracker_lock:
                verdict = self._tracker.observe(event)
            if verdict.failure is not None:
                self._report(verdict.failure)
            elif verdict.kind is not None:
                LOG.info('domain %s (%s): %s, not reported: %s',
                         event.name, event.uuid, verdict.kind, verdict.why)
            else:
                LOG.debug('domain %s (%s): %s', event.name, event.uuid,
                          event.describe())
        except Exception:
            # Never let an exception into libvirt's loop.
            LOG.exception('could not handle a libvirt %s event', event_type)

    def _report(self, failure):
        detail = 'domain %s: %s' % (failure.name, failure.detail)
        LOG.warning('VM failure of %s (%s): %s', failure.uuid, failure.cause,
                    detail)
        self.outbox.put(events.VM_FAILURE, instance=failure.uuid,
                        cause=failure.cause, detail=detail[:_MAX_DETAIL])
