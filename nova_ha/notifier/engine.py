"""The engine's intake, and the VM-failure and process-failure flows.

Threads: the listener calls ``submit`` from oslo.messaging's executor; each
flow runs on the engine's worker pool, so a long restart never blocks the
intake of events.  Replays of one message are dropped by its report id;
across engines, the flows take a tooz lock per VM or per host and the
history's incident records (an open incident is the current failure).

Host failures are not recovered here: host.down and host.up go to
``host_reports`` and Nova's rebuild notifications to ``on_nova_news``, both
the host-failure engine's (nova_ha.engine).
"""

import collections
import concurrent.futures
import dataclasses
import datetime
import threading

from oslo_log import log as logging

from nova_ha.notifier import events
from nova_ha.notifier import flow_settings
from nova_ha.notifier import process_flow
from nova_ha.notifier import signing
from nova_ha.notifier import vm_flow

LOG = logging.getLogger(__name__)

REBUILD_NEWS = frozenset(events.REBUILD_EVENT_TYPES.values())
HOST_REPORTS = {events.HOST_DOWN: 'down', events.HOST_UP: 'up'}


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    flow: flow_settings.FlowSettings = flow_settings.FlowSettings()
    vm_restart_max_attempts: int = 3
    vm_restart_window: float = 3600.0
    vm_migrate_when_restarts_fail: bool = True
    vm_restart_backoff: tuple = (10.0, 120.0)   # (first, longest)
    nova_down_wait: float = 120.0
    workers: int = 8
    seen_ids: int = 10000
    # Signed monitor events (nova_ha.notifier.signing): per-host keys as
    # (host, key) pairs, whether unsigned events are refused (by default,
    # as [event_signing] required), and how old an event may be.
    event_keys: tuple = ()
    signing_required: bool = True
    signing_max_age: float = 300.0


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Engine:

    def __init__(self, env, settings=EngineSettings(), now=utcnow, *,
                 host_reports, on_nova_news=None):
        self.env = env
        # Where host.down / host.up go: the host-failure engine of
        # nova_ha.engine, as host_reports(host, 'down'|'up').
        self.host_reports = host_reports
        # Called on each of Nova's rebuild notifications: the host-failure
        # engine looks at Nova's records at once.
        self.on_nova_news = on_nova_news
        self.settings = settings
        self.now = now
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix='nova-ha-flow')
        self._lock = threading.Lock()
        self._seen = collections.OrderedDict()
        self.futures = []

    # -- intake -------------------------------------------------------------

    def submit_monitor_message(self, event_type, payload, publisher=None):
        """A message of our topic (signatures checked per
        [event_signing])."""
        refused = signing.check(
            event_type, payload, publisher, dict(self.settings.event_keys),
            self.settings.signing_required, self.now(),
            self.settings.signing_max_age)
        if refused:
            parsed = events.Rejection(
                refused, event_type if isinstance(event_type, str)
                else repr(event_type)[:64], publisher,
                events._excerpt(payload))
        else:
            parsed = events.parse_monitor_event(event_type, payload,
                                                self.now(), publisher)
        return self._take(parsed)

    def submit_nova_notification(self, event_type, payload, publisher=None):
        parsed = events.parse_nova_notification(event_type, payload,
                                                self.now(), publisher)
        return self._take(parsed)

    def _take(self, parsed):
        if parsed is None:
            return None
        if isinstance(parsed, events.Rejection):
            LOG.error('rejected message %s from %s: %s; message: %s',
                      parsed.event_type, parsed.publisher, parsed.reason,
                      parsed.excerpt)
            self.env.record('event.rejected', 'rejected %s: %s' % (
                parsed.event_type, parsed.reason), outcome='rejected',
                detail={'publisher': parsed.publisher,
                        'excerpt': parsed.excerpt})
            return parsed
        if parsed.type in REBUILD_NEWS:
            # Progress of a move, for the host-failure engine (which
            # records the move's outcome from Nova's records); not an
            # event of its own.
            if self.on_nova_news is not None:
                if parsed.type != events.REBUILD_START:
                    self.on_nova_news()     # a move ended or failed
            return parsed
        if self._replayed(parsed):
            self.env.record('event.duplicate', 'replayed report %s of %s on '
                            '%s dropped' % (parsed.id, parsed.type,
                                            parsed.host), host=parsed.host,
                            instance=parsed.instance)
            return None
        self.env.record('event.received', '%s on %s%s' % (
            parsed.type, parsed.host,
            (' (%s)' % parsed.cause) if parsed.cause else ''),
            host=parsed.host, instance=parsed.instance,
            detail=parsed.to_dict())
        self._dispatch(parsed)
        return parsed

    def _replayed(self, event):
        if not event.id:
            return False
        with self._lock:
            if event.id in self._seen:
                return True
            self._seen[event.id] = True
            while len(self._seen) > self.settings.seen_ids:
                self._seen.popitem(last=False)
        return False

    def _dispatch(self, event):
        if event.type in HOST_REPORTS:
            self.host_reports(event.host, HOST_REPORTS[event.type])
        elif event.type == events.VM_FAILURE:
            self._run(self.handle_vm_failure, event)
        elif event.type == events.USER_STOP:
            pass     # recorded; Nova's instance actions keep the fact
        elif event.type == events.PROCESS_DOWN:
            self._run(process_flow.on_process_down, self.env,
                      self.settings.flow, event, self.settings.nova_down_wait)
        elif event.type == events.PROCESS_UP:
            self._run(process_flow.on_process_up, self.env, event)

    def _run(self, fn, *args):
        future = self._pool.submit(self._guarded, fn, *args)
        with self._lock:
            self.futures = [f for f in self.futures if not f.done()]
            self.futures.append(future)
        return future

    def _guarded(self, fn, *args):
        try:
            return fn(*args)
        except Exception as e:
            LOG.exception('flow %s failed', fn.__name__)
            self.env.record('alert', 'flow %s failed: %s' % (
                fn.__name__, e), outcome='error')
            return 'error'

    def wait_idle(self, timeout=None):
        """Wait for every flow started so far (tests, shutdown)."""
        while True:
            with self._lock:
                pending = [f for f in self.futures if not f.done()]
            if not pending:
                return
            concurrent.futures.wait(pending, timeout=timeout)

    def stop(self):
        self._pool.shutdown(wait=True)

    # -- VM failure ---------------------------------------------------------

    def handle_vm_failure(self, event):
        return vm_flow.restart_failed_vm(
            self.env, self.settings.flow, self.settings.vm_restart_window,
            event,
            self.settings.vm_restart_max_attempts,
            can_migrate=self.settings.vm_migrate_when_restarts_fail,
            backoff=self.settings.vm_restart_backoff)
