"""The engine: takes validated events, runs the right flow, records it all.

Threads: the listener calls ``submit`` from oslo.messaging's executor; each
flow runs on the engine's worker pool, so a long evacuation never blocks
the intake of events.  Duplicates are stopped at three levels: the report id
(replays of one message), an in-process set of hosts being recovered, and,
across engines, a tooz lock per host plus the history's incident records
(an open incident is the current failure of its host).
"""

import collections
import concurrent.futures
import dataclasses
import datetime
import threading

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import decisions
from nova_ha.notifier import events
from nova_ha.notifier import process_flow
from nova_ha.notifier import recovery
from nova_ha.notifier import server_inventory
from nova_ha.notifier import server_snapshot
from nova_ha.notifier import signing
from nova_ha.notifier import storm
from nova_ha.notifier import vm_flow
from nova_ha.servicegroup import confirm as sg_confirm

LOG = logging.getLogger(__name__)

HOST_FAILURE = 'host_failure'
REBUILD_NEWS = frozenset(events.REBUILD_EVENT_TYPES.values())


@dataclasses.dataclass(frozen=True)
class EngineSettings:
    flow: recovery.FlowSettings = recovery.FlowSettings()
    storm_max_share: float = 0.5
    storm_settle_time: float = 1.0
    storm_burst_hosts: int = 1
    vm_restart_max_attempts: int = 3
    vm_restart_window: float = 3600.0
    nova_down_wait: float = 120.0
    workers: int = 8
    confirm: sg_confirm.ConfirmThresholds = sg_confirm.ConfirmThresholds()
    seen_ids: int = 10000
    # Seconds between reads of the server inventory (0: none; see
    # nova_ha.notifier.server_inventory).
    server_inventory_interval: float = 60.0
    # Signed monitor events (nova_ha.notifier.signing): per-host keys as
    # (host, key) pairs, whether unsigned events are refused, and how old
    # an event may be.
    event_keys: tuple = ()
    signing_required: bool = False
    signing_max_age: float = 300.0


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc)


class Engine:

    def __init__(self, env, settings=EngineSettings(), now=utcnow,
                 host_reports=None, on_nova_news=None):
        self.env = env
        # Called on each of Nova's rebuild notifications: the host-failure
        # engine looks at Nova's records at once.
        self.on_nova_news = on_nova_news
        # Where host.down / host.up go when the host-failure engine of
        # nova_ha.engine recovers hosts: host_reports(host, 'down'|'up').
        self.host_reports = host_reports
        self.settings = settings
        self.now = now
        self.ledger = vm_flow.RestartLedger(settings.vm_restart_window)
        self._pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=settings.workers, thread_name_prefix='nova-ha-flow')
        self._lock = threading.Lock()
        self._seen = collections.OrderedDict()
        self._recovering = set()
        self._down = set()       # hosts reported down and not back up
        self._settle = storm.SettleWindows(settings.storm_settle_time,
                                           settings.storm_burst_hosts)
        self.futures = []
        # Read in the background once start() is called, never while a
        # host is being recovered.
        self.inventory = server_inventory.ServerInventory(
            env.nova, settings.server_inventory_interval,
            busy=self.recovering) \
            if settings.server_inventory_interval > 0 else None

    def start(self):
        """Start the background work (the server inventory's reads)."""
        if self.inventory is not None:
            self.inventory.start()

    def recovering(self):
        """Whether a host's recovery runs in this engine now."""
        with self._lock:
            return bool(self._recovering)

    # -- intake -------------------------------------------------------------

    def submit_monitor_message(self, event_type, payload, publisher=None,
                               trusted=False):
        """A message of our topic; ``trusted`` for the engine's own
        watchers, whose reports never cross the bus."""
        refused = None if trusted else signing.check(
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
            # Progress of a move, for the recovery watching it (which
            # records the move's outcome); not an event of its own.
            if self.on_nova_news is not None:
                if parsed.type != events.REBUILD_START:
                    self.on_nova_news()     # a move ended or failed
            else:
                self.env.rebuilds.report(parsed)
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
        if self.host_reports is not None and \
                event.type in (events.HOST_DOWN, events.HOST_UP):
            self.host_reports(event.host, 'down'
                              if event.type == events.HOST_DOWN else 'up')
            return
        if event.type == events.HOST_DOWN:
            with self._lock:
                self._down.add(event.host)
            self._run(self.handle_host_down, event)
        elif event.type == events.HOST_UP:
            with self._lock:
                self._down.discard(event.host)
        elif event.type == events.VM_FAILURE:
            self._run(self.handle_vm_failure, event)
        elif event.type == events.USER_STOP:
            self.ledger.note_user_stop(event.instance, self.env.monotonic())
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
        if self.inventory is not None:
            self.inventory.stop()
        self._pool.shutdown(wait=True)

    # -- host failure -------------------------------------------------------

    def handle_host_down(self, event):
        host = event.host
        with self._lock:
            if host in self._recovering:
                self.env.record('event.duplicate', 'recovery of %s already '
                                'running here' % host, host=host)
                return 'duplicate'
            self._recovering.add(host)
        try:
            lock = self.env.locks.try_lock('host-' + host)
            if lock is None:
                self.env.record('event.duplicate', 'another engine is '
                                'recovering %s' % host, host=host)
                return 'duplicate'
            try:
                return self._recover_host(event)
            finally:
                lock.release()
        finally:
            with self._lock:
                self._recovering.discard(host)

    def _recover_host(self, event):
        host = event.host
        history = self.env.history
        current = history.list_incidents(host=host, kind=HOST_FAILURE)
        latest = current[-1] if current else None
        if latest is not None and latest.is_open:
            # An engine died mid-recovery (we hold the host lock now):
            # finish its work from the recorded steps.
            self.env.record('decision', 'resuming interrupted recovery %s of'
                            ' %s' % (latest.key, host), host=host,
                            incident=latest.key)
            return self._run_recovery(host, latest.key)
        # One read of the compute services serves the host's own state
        # and, unless the storm rule makes this report wait, the count of
        # hosts down (each read is nova-api work a recovery waits for).
        services = self.env.nova.compute_services()
        service = next((s for s in services if s['host'] == host), None)
        in_maintenance = ha_aggregates.service_in_maintenance(service)
        if latest is not None and service and not in_maintenance and \
                service['status'] == 'disabled' and \
                (service['disabled_reason'] or '').startswith('nova-ha:'):
            self.env.record('event.duplicate', '%s was already recovered '
                            '(%s) and stays disabled until an operator '
                            'brings it back' % (host, latest.key), host=host,
                            incident=latest.key)
            return 'duplicate'
        if event.source == 'servicegroup' and not self._confirmed(event):
            return 'unconfirmed'
        aggregates = self.env.nova.aggregates()
        view = recovery.host_view_from_aggregates(aggregates, host)
        if view.segment is not None:
            # Other reports of one storm arrive within moments: see
            # nova_ha.notifier.storm for who waits and why.
            delay = self._settle.delay(
                view.segment.name, self.env.monotonic(),
                may_skip=self.env.fencing_powers_off(host))
            if delay:
                self.env.sleep(delay)
                services = None     # read again: others may be down now
        segment_hosts = set()
        if view.segment is not None:
            for agg in aggregates:
                if agg.metadata.get('ha:segment', '').strip() == \
                        view.segment.name:
                    segment_hosts.update(agg.hosts)
        down = self._hosts_down(host, services)
        decision = decisions.host_failure_guard(
            host, view,
            host_disabled_for_maintenance=in_maintenance,
            segment_hosts=segment_hosts, down_hosts=down,
            storm_max_share=self.settings.storm_max_share)
        self.env.record('alert' if decision.alert else 'decision',
                        decision.reason, host=host,
                        segment=view.segment_name,
                        outcome='proceed' if decision.proceed else 'skip')
        if not decision.proceed:
            return 'skipped'
        # The plan's read of the host's servers runs beside the fence,
        # or was made before the failure (the inventory's).
        warm = self.inventory.on(host) if self.inventory else None
        if warm is not None:
            LOG.info('planning %s from the server inventory read at %s '
                     '(%d servers there), corrected once it is fenced',
                     host, warm.as_of.isoformat(), len(warm.servers))
        snapshot = server_snapshot.ServerSnapshot(self.env.nova, host,
                                                  warm=warm)
        try:
            incident, created = history.open_incident(
                '%s:%s:%s' % (HOST_FAILURE, host, event.at.isoformat()),
                HOST_FAILURE, host=host,
                detail={'reported_by': event.source,
                        'at': event.at.isoformat()})
            if not created:
                return 'duplicate'
            return self._run_recovery(host, incident.key, aggregates,
                                      snapshot,
                                      service['id'] if service else None)
        finally:
            snapshot.close()

    def _confirmed(self, event):
        """A lost heartbeat alone is no death sentence: ask the second
        channels (BMC power, Nova's own DB heartbeat) through the decision
        table of nova_ha.servicegroup.confirm, re-asking while it says
        wait, until it says fence, ignore (heartbeat back) or alert."""
        host = event.host
        started = self.env.monotonic()
        last_rule = None
        while True:
            with self._lock:
                lost = host in self._down
            decision = sg_confirm.confirm_host_down(
                heartbeat_lost=lost,
                bmc_power=self.env.power_state(host) if lost else None,
                nova_heartbeat_age_s=self.env.nova.heartbeat_age(host)
                if lost else None,
                lost_for_s=self.env.monotonic() - started,
                thresholds=self.settings.confirm)
            if decision.rule != last_rule:
                last_rule = decision.rule
                self.env.record(
                    'alert' if decision.action == sg_confirm.ALERT
                    else 'decision', 'confirming %s is down: %s (%s)' % (
                        host, decision.reason, decision.rule), host=host,
                    outcome=decision.action)
            if decision.action == sg_confirm.FENCE:
                return True
            if decision.action in (sg_confirm.IGNORE, sg_confirm.ALERT):
                return False
            self.env.sleep(self.settings.flow.poll_interval)

    def _run_recovery(self, host, key, aggregates=None, snapshot=None,
                      service_id=None):
        return recovery.HostRecovery(self.env, self.settings.flow, host,
                                     key, aggregates, snapshot,
                                     service_id).run()

    def _hosts_down(self, host, services=None):
        """Hosts down now: ours, those reported to us, and those Nova
        shows down in ``services`` (read here when None)."""
        down = {host}
        with self._lock:
            down |= self._down
        try:
            if services is None:
                services = self.env.nova.compute_services()
        except Exception as e:   # the guard still has our own reports
            LOG.warning('could not list compute services: %s', e)
            services = []
        for s in services:
            if s['state'] == 'down' or s['forced_down']:
                down.add(s['host'])
        return down

    # -- VM failure ---------------------------------------------------------

    def handle_vm_failure(self, event):
        return vm_flow.restart_failed_vm(
            self.env, self.settings.flow, self.ledger, event,
            self.settings.vm_restart_max_attempts)
