"""The host-failure flow: fence, tell Nova, evacuate, restore, record.

The flow runs its steps through an environment (Nova gateway, fencer, locks,
history, clock), so the same code runs against the in-process cloud in
tests and a real cloud in production.  Every step is recorded in the
history's incident before and after it runs; a flow started again for the
same incident (by this engine after a restart, or by another engine that
took over) skips the steps already done, so no step runs twice.

Steps, in order::

    fence           power the host off and confirm; failure -> stop, alert
    force_down      Nova marks the compute service down at once
    disable         no new VMs are scheduled there until an operator acts
    plan            choose the HA VMs, highest ha:priority first
    evacuate:<vm>   one per VM, bounded concurrency, VM locked during its move
    reserved        reserved hosts that received VMs stop being reserved
"""

import concurrent.futures
import dataclasses

from oslo_log import log as logging

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.notifier import decisions
from nova_ha.notifier.nova import NovaError

LOG = logging.getLogger(__name__)

DONE = 'done'
FAILED = 'failed'
STARTED = 'started'

# Incident states.
RECOVERING = 'recovering'
FENCE_FAILED = 'fence_failed'
RECOVERED = 'done'
PARTIAL = 'failed'   # some VMs could not be moved: a person must look


@dataclasses.dataclass(frozen=True)
class FlowSettings:
    evacuation_timeout: float = 600.0
    poll_interval: float = 0.5
    max_concurrent_evacuations: int = 10
    fence_attempts: int = 3
    fence_retry_delay: float = 5.0
    lock_timeout: float = 30.0
    disabled_reason: str = 'nova-ha: host failed, fenced and evacuated'


class StepFailed(Exception):
    pass


def host_view_from_aggregates(aggregates, host):
    return ha_aggregates.host_view(
        [a for a in aggregates if host in a.hosts])


class HostRecovery:
    """Recovers one failed host; ``run()`` returns the incident's end state."""

    def __init__(self, env, settings, host, incident):
        self.env = env
        self.settings = settings
        self.host = host
        self.incident = incident
        self.done_steps = {}

    # -- bookkeeping ------------------------------------------------------

    def record(self, kind, message, **kw):
        kw.setdefault('host', self.host)
        self.env.record(kind, message, incident=self.incident, **kw)

    def _step(self, name, fn, *args):
        """Run a step once per incident; return its recorded detail."""
        previous = self.done_steps.get(name)
        if previous is not None and previous.status == DONE:
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
        self._step('force_down', self.force_down)
        self._step('disable', self.disable)
        plan = self._step('plan', self.plan)
        results = self.evacuate_all(plan.get('vms', []))
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
        self.env.nova.force_down(self.host)
        self.record('service', 'nova-compute on %s forced down' % self.host,
                    outcome='forced_down')

    def disable(self):
        self.env.nova.disable(self.host, self.settings.disabled_reason)
        self.record('service', 'nova-compute on %s disabled: %s' % (
            self.host, self.settings.disabled_reason), outcome='disabled')

    def plan(self):
        view = host_view_from_aggregates(self.env.nova.aggregates(),
                                         self.host)
        servers = self.env.nova.servers_on(self.host)
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
        """Evacuate with bounded concurrency, in priority order."""
        results = {}
        todo = []
        for vm in vms:
            step = self.done_steps.get('evacuate:' + vm['id'])
            if step is not None and step.status == DONE:
                results[vm['id']] = dict(step.detail or {}, outcome=DONE)
            else:
                todo.append(vm)
        if not todo:
            return results
        workers = max(1, min(self.settings.max_concurrent_evacuations,
                             len(todo)))
        with concurrent.futures.ThreadPoolExecutor(
                max_workers=workers,
                thread_name_prefix='evacuate-%s' % self.host) as pool:
            # The pool starts tasks in submission order: priority order.
            futures = {pool.submit(self._evacuate_one, vm): vm for vm in todo}
            for future in concurrent.futures.as_completed(futures):
                vm = futures[future]
                try:
                    results[vm['id']] = future.result()
                except Exception as e:   # recorded, the others continue
                    LOG.exception('evacuation of %s failed', vm['id'])
                    results[vm['id']] = {'outcome': FAILED, 'error': str(e)}
        return results

    def _evacuate_one(self, vm):
        name = 'evacuate:' + vm['id']
        try:
            with self.env.lock('vm-' + vm['id'],
                               timeout=self.settings.lock_timeout):
                detail = self._step(name, self._move, vm)
        except Exception as e:
            self.record('evacuate', 'evacuation of %s failed: %s' % (
                vm['name'] or vm['id'], e), instance=vm['id'],
                outcome=FAILED)
            return {'outcome': FAILED, 'error': str(e)}
        return dict(detail, outcome=DONE)

    def _move(self, vm):
        nova = self.env.nova
        server_id = vm['id']
        started = self.env.monotonic()
        server = nova.server(server_id)
        if server['host'] == self.host:
            self._request_evacuation(server)
            server = self._wait_for_evacuation(server_id)
        target = server['host']
        action = decisions.power_restore_action(vm['status'],
                                                server['status'])
        if action:
            self._restore_power(server_id, action, vm['status'])
            server = nova.server(server_id)
        elapsed = self.env.monotonic() - started
        self.record('evacuate', '%s moved %s -> %s in %.1f s, now %s' % (
            vm['name'] or server_id, self.host, target, elapsed,
            server['status']), instance=server_id, outcome=DONE,
            detail={'target': target, 'status': server['status'],
                    'elapsed_s': round(elapsed, 3)})
        return {'target': target, 'status': server['status'],
                'elapsed_s': round(elapsed, 3)}

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
        # back stopped and _restore_power puts it as it was.
        nova.evacuate(server['id'],
                      keep_running=server['status'] == decisions.ACTIVE)

    def _wait_for_evacuation(self, server_id):
        def finished():
            evac = self.env.nova.last_evacuation(server_id)
            if evac is None or evac['status'] not in (
                    'done', 'completed', 'error', 'failed'):
                return None
            server = self.env.nova.server(server_id)
            if server['task_state']:
                return None
            return evac, server
        evac, server = self.env.wait_for(
            finished, self.settings.evacuation_timeout,
            self.settings.poll_interval,
            'evacuation of %s' % server_id)
        if evac['status'] in ('error', 'failed') or \
                server['host'] == self.host:
            raise StepFailed('Nova could not evacuate it (migration %s, '
                             'server %s on %s)' % (
                                 evac['status'], server['status'],
                                 server['host']))
        return server

    def _restore_power(self, server_id, action, previous):
        nova = self.env.nova
        if action == 'start':
            want = decisions.ACTIVE
            nova.start(server_id)
        elif action == 'stop':
            want = decisions.SHUTOFF
            nova.stop(server_id)
        else:
            want = decisions.ERROR
            nova.reset_state(server_id, 'error')
        self.env.wait_for(
            lambda: nova.server(server_id)['status'] == want,
            self.settings.evacuation_timeout, self.settings.poll_interval,
            '%s to become %s' % (server_id, want))
        self.record('power', 'restored %s to %s (it was %s before the '
                    'failure)' % (server_id, want, previous),
                    instance=server_id)

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
