"""The host-failure flow: fence, tell Nova, evacuate, restore, record.

The flow runs its steps through an environment (Nova gateway, fencer, locks,
history, clock), so the same code runs against the in-process cloud in
tests and a real cloud in production.  Every step is recorded in the
history's incident before and after it runs; a flow started again for the
same incident (by this engine after a restart, or by another engine that
took over) skips the steps already done, so no step runs twice.

Steps, in order::

    fence           power the host off and confirm; failure -> stop, alert
    force_down      Nova marks the compute service down at once (the
                    plan's server read finishes meanwhile)
    plan            choose the HA VMs, highest ha:priority first
    evacuate:<vm>   one per VM, bounded concurrency, VM locked during its move
    disable         the host stays out until an operator acts (after the
                    moves: forced down already keeps the scheduler away)
    reserved        reserved hosts that received VMs stop being reserved
"""

import collections
from concurrent import futures
import dataclasses
import datetime

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import decisions
from nova_ha.notifier import events
from nova_ha.notifier.nova import NovaError

LOG = logging.getLogger(__name__)

DONE = 'done'
FAILED = 'failed'
STARTED = 'started'

_MIGRATION_FAILED = ('error', 'failed')
_MIGRATION_ENDED = ('done', 'completed') + _MIGRATION_FAILED

# Where a move was seen to end (the 'seen_in' of its result).
SEEN_IN_NOTIFICATION = 'notification'
SEEN_IN_API = 'api'

# Incident states.
RECOVERING = 'recovering'
FENCE_FAILED = 'fence_failed'
RECOVERED = 'done'
PARTIAL = 'failed'   # some VMs could not be moved: a person must look


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    evacuation_timeout: float = 600.0
    poll_interval: float = 0.5
    # The first poll of the moves waits this long, and polls back off
    # towards it while nothing changes; after a change they come every
    # poll_interval again.  Each poll costs nova-api work that the
    # rebuilds being watched are waiting for.
    poll_interval_max: float = 2.0
    # Once Nova's rebuild notifications report this recovery's moves, the
    # API is polled only this often: a safety net for a lost notification
    # (see nova_ha.notifier.rebuild_news).
    poll_interval_notified: float = 15.0
    max_concurrent_evacuations: int = 32
    # Evacuation requests sent at once (see the engine's
    # evacuation_request_workers option: one at a time keeps Nova's
    # finishing order that of ha:priority).
    request_workers: int = 1
    fence_attempts: int = 3
    fence_retry_delay: float = 5.0
    lock_timeout: float = 30.0
    # How long a move that ended on Nova's rebuild.end may wait for Nova's
    # records to show it done, and how often they are read meanwhile (see
    # HostRecovery._confirm_finished): Nova's step comes moments later,
    # and with many moves several seconds later (each finish queues on
    # the target's resource lock; measured with 50 VMs: the last one 5 s
    # after the last rebuild.end).  The VMs already run; each read is
    # nova-api work those finishes compete with, so reads are sparse.
    finish_grace: float = 60.0
    finish_poll_interval: float = 2.0
    disabled_reason: str = 'nova-ha: host failed, fenced and evacuated'


class StepFailed(Exception):
    pass


@dataclasses.dataclass
class _Move:
    """One VM's evacuation in flight."""

    vm: dict
    step: str
    lock: object
    started: float
    phase: str = 'evacuating'    # -> evacuated -> restoring
    target: str = None
    want: str = None
    # Status of its migration in Nova: 'accepted' until a target host has
    # claimed it, then 'pre-migrating', 'done' or 'failed'.
    nova_status: str = None

    @property
    def scheduling(self):
        """Still in Nova's scheduling path (not yet placed on a target)."""
        return self.phase == 'evacuating' and \
            self.nova_status in (None, 'accepted')


def host_view_from_aggregates(aggregates, host):
    return ha_aggregates.host_view(
        [a for a in aggregates if host in a.hosts])


class HostRecovery:
    """Recovers one failed host; ``run()`` returns the incident's end state."""

    def __init__(self, env, settings, host, incident, aggregates=None,
                 snapshot=None, service_id=None):
        self.env = env
        self.settings = settings
        self.host = host
        self.incident = incident
        self.done_steps = {}
        # Aggregates the guard just read; the plan reuses them.
        self._aggregates = aggregates
        # The host's nova-compute service as the guard read it: forcing
        # it down is then one call instead of a lookup and the call.
        self._service_id = service_id
        # The host's servers, read before the fence (a ServerSnapshot
        # the engine started) or after it.
        self._snapshot = snapshot
        self._servers = None
        # VMs whose current state the plan read in this run: their
        # evacuation can be requested without reading them again.
        self._fresh = {}

    # -- bookkeeping ------------------------------------------------------

    def record(self, kind, message, **kw):
        kw.setdefault('host', self.host)
        self.env.record(kind, message, incident=self.incident, **kw)

    def _done(self, name):
        previous = self.done_steps.get(name)
        return previous is not None and previous.status == DONE

    def _step(self, name, fn, *args):
        """Run a step once per incident; return its recorded detail."""
        previous = self.done_steps.get(name)
        if self._done(name):
            LOG.info('incident %s: step %s already done, skipping',
                     self.incident, name)
            return previous.detail or {}
        self.env.history.mark_step(self.incident, name, STARTED)
        try:
            detail = fn(*args) or {}
        except Exception as e:
            self.env.history.mark_step(self.incident, name, FAILED,
                                       {'error': str(e)})
            raise
        self.env.history.mark_step(self.incident, name, DONE, detail)
        return detail

    # -- the flow -----------------------------------------------------------

    def run(self):
        self.done_steps = self.env.history.steps(self.incident)
        self.env.history.update_incident(self.incident, state=RECOVERING)
        try:
            self._step('fence', self.fence)
        except StepFailed as e:
            self.record('alert', 'not evacuating %s: %s' % (self.host, e),
                        outcome=FENCE_FAILED)
            self.env.history.update_incident(self.incident,
                                             state=FENCE_FAILED)
            return FENCE_FAILED
        with futures.ThreadPoolExecutor(
                1, thread_name_prefix='nova-ha-recovery') as side:
            # The host is off: its servers cannot change any more, so the
            # plan's read (or the correction of the one made before the
            # fence, see server_snapshot) runs while Nova is told.
            if not self._done('plan'):
                self._servers = side.submit(
                    self._snapshot.servers if self._snapshot
                    else lambda: self.env.nova.servers_on(self.host))
            self._step('force_down', self.force_down)
            plan = self._step('plan', self.plan)
        try:
            results = self.evacuate_all(plan.get('vms', []))
        finally:
            self._disable_after_moves()
        targets = sorted({r['target'] for r in results.values()
                          if r.get('target')})
        self._step('reserved', self.consume_reserved, targets)
        failed = sorted(vm for vm, r in results.items()
                        if r['outcome'] != DONE)
        state = PARTIAL if failed else RECOVERED
        self.record('decision', 'recovery of %s finished: %d VMs moved, %d '
                    'failed%s; the host stays disabled until an operator '
                    'brings it back' % (
                        self.host, len(results) - len(failed), len(failed),
                        (' (%s)' % ', '.join(failed)) if failed else ''),
                    outcome=state)
        self.env.history.update_incident(
            self.incident, state=state,
            detail={'moved': len(results) - len(failed), 'failed': failed})
        return state

    def fence(self):
        last = None
        for attempt in range(1, self.settings.fence_attempts + 1):
            result = self.env.fence(self.host)
            last = result
            self.record('fence', 'fencing %s (attempt %d): %s: %s' % (
                self.host, attempt, result.outcome.value, result.detail),
                outcome=result.outcome.value, detail=result.to_dict())
            if result.confirmed_off:
                return result.to_dict()
            if result.outcome.value == 'not_fenced':
                # The noop driver: the operator chose no fencing for this
                # host; recorded on every decision it affects.
                self.record('decision', 'evacuating %s WITHOUT fencing: '
                            'the noop fence driver is configured for it'
                            % self.host, outcome='not_fenced')
                return result.to_dict()
            if attempt < self.settings.fence_attempts:
                self.env.sleep(self.settings.fence_retry_delay)
        raise StepFailed('fencing failed %d times, last: %s' % (
            self.settings.fence_attempts, last.detail))

    def force_down(self):
        self.env.nova.force_down(self.host, service_id=self._service_id)
        self.record('service', 'nova-compute on %s forced down' % self.host,
                    outcome='forced_down')

    def disable(self):
        self.env.nova.disable(self.host, self.settings.disabled_reason)
        self.record('service', 'nova-compute on %s disabled: %s' % (
            self.host, self.settings.disabled_reason), outcome='disabled')

    def _disable_after_moves(self):
        """Forced down is what evacuation needs and what keeps the
        scheduler away; disabling, which keeps the host out until an
        operator acts, is nova-api work the rebuilds would wait for, so it
        comes after them.  Its failure is an alert, never the end of the
        flow (nor does it hide why the moves failed, if they did)."""
        try:
            self._step('disable', self.disable)
        except Exception as e:
            LOG.exception('recovery of %s: disabling failed', self.host)
            self.record('alert', 'could not disable nova-compute on %s: %s;'
                        ' it stays forced down, so nothing new is scheduled'
                        ' there, but disable it by hand before bringing it '
                        'back' % (self.host, e), outcome='error')

    def plan(self):
        aggregates = self._aggregates
        if aggregates is None:
            aggregates = self.env.nova.aggregates()
        view = host_view_from_aggregates(aggregates, self.host)
        servers = self._servers.result() if self._servers is not None \
            else self.env.nova.servers_on(self.host)
        self._fresh = {s['id']: s for s in servers}
        evacuate_all = bool(view.segment and view.segment.evacuate_all)
        plans = decisions.choose_vms(servers, evacuate_all=evacuate_all)
        skipped = len(servers) - len(plans)
        for p in plans:
            if p.problems:
                self.record('alert', 'server %s has bad HA metadata: %s' % (
                    p.id, '; '.join(p.problems)), instance=p.id)
        self.record('decision', 'plan for %s: %d HA VMs to evacuate '
                    '(priority order: %s), %d non-HA VMs left alone' % (
                        self.host, len(plans),
                        ', '.join('%s(%d)' % (p.name or p.id, p.priority)
                                  for p in plans) or 'none', skipped))
        return {'vms': [dataclasses.asdict(p) for p in plans]}

    def evacuate_all(self, vms):
        """Evacuate in priority order with at most N moves in flight.

        Requests go out from a small pool (each is a synchronous API call).
        One loop watches every move with one API call per poll (the
        evacuation migrations from the failed host), backing off while
        nothing changes, and reads a server only when its migration has
        ended: listing servers on every poll would load nova-api with
        calls that slow down the very rebuilds it waits for (measured: a
        detailed list took 0.6-2 s of the in-process cloud's time with 12
        VMs moving).
        """
        results = {}
        todo = collections.deque()
        for vm in vms:
            step = self.done_steps.get('evacuate:' + vm['id'])
            if self._done('evacuate:' + vm['id']):
                results[vm['id']] = dict(step.detail or {}, outcome=DONE)
            else:
                todo.append(vm)
        since = (datetime.datetime.now(datetime.timezone.utc) -
                 datetime.timedelta(minutes=5)).isoformat()
        in_flight = {}
        with futures.ThreadPoolExecutor(
                max(1, self.settings.request_workers),
                thread_name_prefix='nova-ha-evacuate') as requests:
            try:
                self._watch(todo, in_flight, results, since, requests)
            except BaseException:
                # Whatever broke the loop, no VM stays locked by it.
                for move in in_flight.values():
                    self._release(move)
                raise
        self._confirm_finished(vms, results, since)
        return results

    def _confirm_finished(self, vms, results, since):
        """Check in Nova's records the moves that ended on a notification.

        Nova sends rebuild.end before its last step of an evacuation
        (finish_evacuation), which sets the server's host and marks the
        migration done.  If that step failed, the VM would be recorded as
        moved while Nova still places it on the failed host.  One read of
        the migrations after the last move checks every such move.  A
        move not yet done is read again every finish_poll_interval, up to
        finish_grace.  One that ends otherwise is a failed move, and a
        person must look.  The read comes after the rebuilds, so it costs
        them nothing.
        """
        waiting = {vm_id for vm_id, result in results.items()
                   if result['outcome'] == DONE and
                   result.get('seen_in') == SEEN_IN_NOTIFICATION}
        deadline = self.env.monotonic() + self.settings.finish_grace
        status = {}
        while waiting:
            evacuations = self._poll(since)   # {} when it failed
            for vm_id in list(waiting):
                found = (evacuations.get(vm_id) or {}).get('status')
                status[vm_id] = found or status.get(vm_id)
                if found in _MIGRATION_ENDED:
                    waiting.discard(vm_id)
            if not waiting or self.env.monotonic() >= deadline:
                break
            self.env.sleep(self.settings.finish_poll_interval)
        for vm in vms:
            vm_id = vm['id']
            if vm_id in waiting or status.get(vm_id) in _MIGRATION_FAILED:
                results[vm_id] = self._fail_move(
                    vm, 'evacuate:' + vm_id,
                    'its rebuild on %s ended but Nova did not finish the '
                    'evacuation (migration %s%s)' % (
                        results[vm_id].get('target'),
                        status.get(vm_id) or 'not read',
                        ' after %.0f s' % self.settings.finish_grace
                        if vm_id in waiting else ''))

    def _watch(self, todo, in_flight, results, since, requests):
        """Start moves up to the limit and follow them until all ended.

        The limit counts moves still in Nova's scheduling path (accepted,
        not yet claimed by a target host): that path (conductor,
        scheduler, placement) is what a burst of evacuations overloads.
        A move its target has claimed frees its place, so the next ones
        queue behind it on the target; counting moves until they end left
        the scheduling path idle while the first batch finished together
        (measured with 50 VMs and 32 places: the last 18 ended 30 s
        after the others).

        Moves advance on Nova's rebuild notifications as they arrive, and
        on polls of the API.  No evacuation ends within moments of its
        request: the first poll waits the longest interval, and polls come
        quickly only after a change (moves end in bursts: a target
        finishes them one by one under its resource lock).  Once
        notifications are seen to arrive, polls are only a safety net.
        Each poll is nova-api work that the rebuilds wait for.
        """
        limit = max(1, self.settings.max_concurrent_evacuations)
        settings = self.settings
        # Requests go out a pool's worth at a time, and the news of the
        # moves already asked for is taken between two rounds: a VM that
        # Nova has rebuilt is recorded (or has its power restored) while
        # the later requests still go out.
        per_round = max(1, settings.request_workers)
        longest = max(settings.poll_interval, settings.poll_interval_max)
        interval = longest
        next_poll = None
        notified = False

        def scheduling():
            return sum(1 for m in in_flight.values() if m.scheduling)

        while todo or in_flight:
            batch = []
            room = min(limit - scheduling(), per_round)
            while todo and len(batch) < room:
                batch.append(todo.popleft())
            for vm, move in zip(batch, requests.map(self._begin_move,
                                                    batch)):
                if move is not None:
                    in_flight[vm['id']] = move
                else:
                    results[vm['id']] = {'outcome': FAILED}
            if not in_flight:
                continue
            if next_poll is None:
                next_poll = self.env.monotonic() + interval
            more_to_ask = bool(todo) and scheduling() < limit
            self.env.wait_for_rebuild_news(
                list(in_flight),
                0.0 if more_to_ask else
                max(0.0, next_poll - self.env.monotonic()))
            news = self.env.rebuilds.take(in_flight)
            notified |= bool(news)
            polled = self.env.monotonic() >= next_poll
            evacuations = self._poll(since) if polled else {}
            progressed = False
            for vm_id, move in list(in_flight.items()):
                if not polled and vm_id not in news and \
                        move.phase != 'evacuated':
                    continue
                before = (move.phase, move.nova_status)
                evacuation = evacuations.get(vm_id)
                if evacuation is not None:
                    move.nova_status = evacuation['status']
                outcome = self._advance(move, evacuation, news.get(vm_id))
                progressed |= outcome is not None or \
                    (move.phase, move.nova_status) != before
                if outcome is not None:
                    results[vm_id] = outcome
                    del in_flight[vm_id]
            # Power restores are followed on the API only.
            restoring = any(m.phase != 'evacuating'
                            for m in in_flight.values())
            now = self.env.monotonic()
            if not polled:
                if restoring:
                    # A notification began a restore: poll soon for it.
                    next_poll = min(next_poll, now + settings.poll_interval)
                continue
            if notified and not restoring:
                interval = max(longest, settings.poll_interval_notified)
            elif progressed:
                interval = settings.poll_interval
            else:
                interval = min(interval * 1.5, longest)
            next_poll = now + interval

    def _poll(self, since):
        try:
            return self.env.nova.evacuations_from(self.host, since)
        except NovaError as e:
            LOG.warning('recovery of %s: polling Nova failed: %s',
                        self.host, e)
            return {}

    def _begin_move(self, vm):
        """Lock the VM and ask Nova to evacuate it; None if that failed."""
        name = 'evacuate:' + vm['id']
        try:
            lock = self.env.acquire('vm-' + vm['id'],
                                    self.settings.lock_timeout)
        except Exception as e:
            self._fail_move(vm, name, 'could not lock it: %s' % e)
            return None
        move = _Move(vm, name, lock, self.env.monotonic())
        resumed = name in self.done_steps
        try:
            self.env.history.mark_step(self.incident, name, STARTED)
            # A VM read by this run's plan is still as it was (its host is
            # off); one whose move an earlier engine began must be re-read.
            server = None if resumed else self._fresh.get(vm['id'])
            if server is None:
                server = self.env.nova.server(vm['id'])
            # News from before this move (an earlier rebuild) would lie.
            self.env.rebuilds.take([vm['id']])
            if server['host'] != self.host:
                # Moved already (an engine died after asking Nova).
                move.phase = 'evacuated'
            else:
                try:
                    self._request_evacuation(server)
                except NovaError:
                    # Changed since the plan read it (a user's action):
                    # judge it again from what Nova shows now, once.
                    server = self.env.nova.server(vm['id'])
                    if server['host'] == self.host:
                        self._request_evacuation(server)
                    else:
                        move.phase = 'evacuated'
        except Exception as e:
            lock.release()
            self._fail_move(vm, name, str(e))
            return None
        return move

    def _advance(self, move, evacuation, news=None):
        """Progress one move from its migration or from a rebuild
        notification about it; a result when over."""
        vm = move.vm
        try:
            if move.phase == 'evacuating':
                server = self._rebuilt(move, news) or \
                    self._evacuated(move, evacuation)
                if server is None:
                    return self._check_deadline(move)
                move.phase = 'evacuated'
            else:
                server = self.env.nova.server(vm['id'])
            if move.phase == 'evacuated':
                move.target = server['host']
                action = decisions.power_restore_action(vm['status'],
                                                        server['status'])
                if action is None:
                    return self._finish_move(move, server)
                move.want = self._restore_power(vm['id'], action)
                move.phase = 'restoring'
                return None
            if move.phase == 'restoring':
                if server['status'] != move.want:
                    return self._check_deadline(move)
                self.record('power', 'restored %s to %s (it was %s before '
                            'the failure)' % (vm['id'], move.want,
                                              vm['status']),
                            instance=vm['id'])
                return self._finish_move(move, server)
        except Exception as e:
            self._release(move)
            return self._fail_move(vm, move.step, str(e))
        return None

    def _evacuated(self, move, evacuation):
        """The server once its evacuation migration has ended; None while
        it runs; StepFailed if it failed."""
        if evacuation is None or \
                evacuation['status'] not in _MIGRATION_ENDED:
            return None
        # Read after the migration: the server is never older.
        server = self.env.nova.server(move.vm['id'])
        if server['task_state'] and \
                evacuation['status'] not in _MIGRATION_FAILED:
            # Nova finishes an evacuation in several writes.
            return None
        if evacuation['status'] in _MIGRATION_FAILED or \
                server['host'] == self.host:
            raise StepFailed('Nova could not evacuate it (migration %s, '
                             'server %s on %s)' % (
                                 evacuation['status'], server['status'],
                                 server['host']))
        return server

    def _rebuilt(self, move, news):
        """The server as a rebuild notification shows it, when it says the
        VM now runs (or is stopped) on its target; None otherwise."""
        if news is None or news.host == self.host:
            return None
        if news.type == events.REBUILD_START:
            # The target has claimed it: out of the scheduling path.
            if move.nova_status in (None, 'accepted'):
                move.nova_status = 'claimed'
            return None
        if news.type == events.REBUILD_ERROR:
            # Nova marks the migration failed; read what it shows.
            return self._evacuated(move, {'status': 'failed'})
        return {'id': move.vm['id'], 'host': news.host,
                'status': decisions.status_of_vm_state(news.state),
                'task_state': None, 'seen_in': SEEN_IN_NOTIFICATION}

    def _check_deadline(self, move):
        if self.env.monotonic() - move.started > \
                self.settings.evacuation_timeout:
            raise StepFailed('no result after %.0f s (phase %s)' % (
                self.settings.evacuation_timeout, move.phase))
        return None

    @staticmethod
    def _release(move):
        lock, move.lock = move.lock, None
        if lock is not None:
            lock.release()

    def _finish_move(self, move, server):
        self._release(move)
        elapsed = round(self.env.monotonic() - move.started, 3)
        detail = {'target': move.target, 'status': server['status'],
                  'elapsed_s': elapsed,
                  'seen_in': server.get('seen_in', SEEN_IN_API)}
        self.env.history.mark_step(self.incident, move.step, DONE, detail)
        self.record('evacuate', '%s moved %s -> %s in %.1f s, now %s' % (
            move.vm['name'] or move.vm['id'], self.host, move.target,
            elapsed, server['status']), instance=move.vm['id'],
            outcome=DONE, detail=detail)
        return dict(detail, outcome=DONE)

    def _fail_move(self, vm, step, error):
        self.env.history.mark_step(self.incident, step, FAILED,
                                   {'error': error})
        self.record('evacuate', 'evacuation of %s failed: %s' % (
            vm['name'] or vm['id'], error), instance=vm['id'],
            outcome=FAILED)
        return {'outcome': FAILED, 'error': error}

    def _request_evacuation(self, server):
        nova = self.env.nova
        if server['task_state']:
            # Nova refuses to evacuate a VM that was mid-task when its host
            # died (409); clear the stale task first, keeping ERROR as is.
            state = 'error' if server['status'] == decisions.ERROR \
                else 'active'
            self.record('evacuate', 'resetting %s from task %s to %s before'
                        ' evacuating' % (server['id'], server['task_state'],
                                         state), instance=server['id'])
            nova.reset_state(server['id'], state)
        # A running VM comes back running in one step; anything else comes
        # back stopped and the restore step puts it as it was.
        nova.evacuate(server['id'],
                      keep_running=server['status'] == decisions.ACTIVE)

    def _restore_power(self, server_id, action):
        """Ask Nova to put the VM back as it was; the status to wait for."""
        nova = self.env.nova
        if action == 'start':
            nova.start(server_id)
            return decisions.ACTIVE
        if action == 'stop':
            nova.stop(server_id)
            return decisions.SHUTOFF
        nova.reset_state(server_id, 'error')
        return decisions.ERROR

    def consume_reserved(self, targets):
        aggregates = self.env.nova.aggregates()
        released = []
        for target in targets:
            view = host_view_from_aggregates(aggregates, target)
            if not view.reserved:
                continue
            for agg in aggregates:
                if target in agg.hosts and ha_aggregates.parse_bool(
                        agg.metadata.get(ha_aggregates.RESERVED_KEY,
                                         'false'),
                        ha_aggregates.RESERVED_KEY, True, []):
                    try:
                        self.env.nova.remove_host_from_aggregate(agg.id,
                                                                 target)
                    except NovaError as e:
                        self.record('alert', 'could not release reserved '
                                    'host %s from %s: %s' % (
                                        target, agg.name, e))
                        continue
                    released.append(target)
                    self.record('decision', 'reserved host %s received VMs '
                                'and is no longer reserved (removed from '
                                'aggregate %s)' % (target, agg.name),
                                host=target)
        return {'released': released}
