"""One engine replica's loop body: observe, step, act.

``Replica.tick(now)`` is everything one iteration does; nova-ha-engine
calls it on every event, every result and at least every reconcile
interval, the simulated cloud calls it on its virtual clock.  History
writes (saves, notes, opening and taking over incidents) run in the tick,
in order, before any side effect; side effects go to an executor that
checks the lease's generation just before each one runs.
"""

import dataclasses

from oslo_log import log as logging

from nova_ha.engine import core
from nova_ha.engine import env as engine_env
from nova_ha.engine import guards
from nova_ha.engine import model
from nova_ha.engine import states
from nova_ha.engine import vm_failure
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.servicegroup import channels

LOG = logging.getLogger(__name__)

# Looks closer together than this reuse Nova's list of compute services
# (a recovery looks often; a new failure is seen at most this much later).
SERVICES_MAX_AGE = 2.0

_IN_TICK = (model.Save, model.Note, model.OpenIncident, model.TakeOver,
            model.Release, model.ClearRequest, model.Relay)


class StaleLease(Exception):
    pass


class HostAlive(Exception):
    """The host heartbeats: it is not fenced, nor its VMs copied."""


# A side effect starts only with at least this much of its lease left
# (seconds); it gives up when the lease would end.
MIN_LEASE_TO_ACT = 1.0


def deadline_of(env, action):
    """How long ``action``'s side effect may run: its own timeout, cut to
    what is left of the lease it was checked under (None: no bound)."""
    timeout = env.side_effect_timeout(action)
    if not action.guarded:
        return timeout or None
    left = env.lease_left(action.incident)
    return min(timeout, left) if timeout else left


def check_action(env, action):
    """Why ``action`` may not run now (a StaleLease, a HostAlive), or
    None.  Checked by the executor just before the request goes on the
    wire."""
    # The lease must still be ours, at this generation: an owner paused
    # before this point finds its lease lapsed; a side effect it starts
    # gives up when the lease ends (deadline_of), before another replica
    # can take the incident over.
    if action.guarded and not env.lease_valid(
            action.incident, action.token,
            within=min(MIN_LEASE_TO_ACT, env.side_effect_timeout(action) or
                       MIN_LEASE_TO_ACT)):
        return StaleLease('lease of %s at generation %d is no longer ours '
                          '(or too little of it is left)' % (
                              action.incident, action.token))
    # Liveness wins, at the last moment too: the core decided on a look
    # that may be old by now (a paused process, a slow queue).
    host = action.needs_dead
    if host is not None:
        try:
            alive = (env.liveness() or {}).get(host) == model.ALIVE
        except engine_env.Unavailable:
            alive = False       # unknown: the core's proof stands
        if alive:
            return HostAlive('%s heartbeats again' % host)
    return None


def perform(env, action):
    """Carry out ``action`` (already checked); the Result."""
    try:
        deadline = deadline_of(env, action)
        if deadline is None or deadline == float('inf'):
            value = _dispatch(env, action)
        else:
            with env.deadline(deadline):
                value = _dispatch(env, action)
        return model.Result(action, True, value)
    except Exception as e:        # every failure is an observation
        return model.Result(action, False, error='%s: %s' % (
            type(e).__name__, e))


def run_action(env, action):
    """Check, then carry out one action through ``env``; the Result."""
    try:
        refused = check_action(env, action)
    except Exception as e:        # a check that cannot be made refuses
        refused = StaleLease('%s: %s' % (type(e).__name__, e))
    if refused is not None:
        return model.Result(action, False, error='%s: %s' % (
            type(refused).__name__, refused))
    return perform(env, action)


def _dispatch(env, a):
    if isinstance(a, model.Save):
        if not env.save(a.incident, a.token, a.state, a.facts, a.records):
            raise StaleLease('the history holds a newer generation of %s'
                             % a.incident)
        return None
    if isinstance(a, model.Note):
        return env.note(a.kind, a.message, incident=a.incident,
                        token=a.token, host=a.host, instance=a.instance,
                        outcome=a.outcome, detail=a.detail)
    if isinstance(a, model.OpenIncident):
        return env.open_incident(a.host, a.sequence, a.reason, kind=a.kind,
                                 subject=a.subject, facts=dict(a.facts))
    if isinstance(a, model.TakeOver):
        return env.take_over(a.incident, a.generation)
    if isinstance(a, model.Release):
        return env.release(a.incident)
    if isinstance(a, model.ClearRequest):
        return env.clear_request(a.incident, a.request, a.token)
    if isinstance(a, model.ReadPower):
        return env.read_power(a.host)
    if isinstance(a, model.Fence):
        return env.fence(a.host)
    if isinstance(a, model.ForceDown):
        return env.force_down(a.host, a.service_id)
    if isinstance(a, model.Disable):
        return env.disable(a.host, a.reason)
    if isinstance(a, model.Evacuate):
        return env.evacuate(a.vm, a.keep_running)
    if isinstance(a, model.ResetStaleTask):
        return env.reset_stale_task(a.vm, a.source, a.task_state,
                                    a.to_state)
    if isinstance(a, model.SetPower):
        return env.set_power(a.vm, a.want)
    if isinstance(a, model.ReleaseReserved):
        return env.release_reserved(a.host, a.aggregate)
    if isinstance(a, model.Relay):
        return env.relay(a.incident, a.request, {
            'cause': a.report.cause, 'host': a.report.host})
    if isinstance(a, model.RestartVM):
        return env.restart_vm(a.vm, a.how)
    if isinstance(a, model.MigrateVM):
        return env.migrate_vm(a.vm)
    if isinstance(a, model.ConfirmMove):
        return env.confirm_move(a.vm)
    if isinstance(a, model.Enable):
        return env.enable(a.host)
    raise TypeError('unknown action %r' % (a,))


def _read(what, fn, *args):
    try:
        return fn(*args)
    except engine_env.Unavailable as e:
        LOG.warning('%s not answering: %s', what, e)
        return None


def observe(env, state, results, inflight, aggregates=None, services=None,
            settled_due=True):
    """What ``env`` shows now, for the incidents ``state`` owns.
    ``aggregates``, ``services``: recent reads to use instead of reading
    them again; ``settled_due``: read the servers of every move that
    ended well now, even while others are under way."""
    incidents = _read('the history', env.incidents)
    leases = {}
    for key, incident in sorted(state.incidents.items()):
        try:
            leases[key] = 'mine' if env.renew(key, incident.token) \
                else 'lost'
        except engine_env.Unavailable:
            leases[key] = 'lost'
    for stored in incidents or ():
        if not stored.closed and stored.key not in state.incidents:
            try:
                leases[stored.key] = 'free' if env.lease_free(stored.key) \
                    else 'held'
            except engine_env.Unavailable:
                leases[stored.key] = 'held'
    servers, vms, migrations = {}, {}, {}
    failed_vms, stopped = _observe_failed_vms(env, state)
    for incident in state.incidents.values():
        if incident.kind != states.KIND:
            continue
        if incident.state == states.FENCED:
            servers[incident.host] = _read('nova-api', env.servers_on,
                                           incident.host)
        elif incident.state == states.EVACUATING:
            _observe_moves(env, incident, state, vms, migrations,
                           settled_due)
    fresh = aggregates is None and services is None
    if services is None:
        services = _read('nova-api', env.compute_services)
    if aggregates is None:
        aggregates = _read('nova-api', env.aggregates)
    return model.Observation(
        me=env.me, services=services,
        liveness=_read('the coordination backend', env.liveness),
        aggregates=aggregates,
        incidents=incidents, leases=leases, servers=servers, vms=vms,
        migrations=migrations, reports=tuple(env.take_reports()),
        results=tuple(results), inflight=frozenset(inflight),
        fresh=fresh, peer_views=_peer_views(env, state, aggregates,
                                            services, incidents),
        lost_at=_read('the coordination backend', env.lost_at),
        events=tuple(env.take_events()), failed_vms=failed_vms,
        stopped_by_user=stopped)


def _observe_failed_vms(env, state):
    """The servers of the VM-failure incidents, and whether their owners
    stopped them (only where the incident is about to decide)."""
    wanted = sorted({i.fact('vm') for i in state.incidents.values()
                     if i.kind == vm_failure.KIND})
    if not wanted:
        return {}, {}
    servers = _read('nova-api', env.servers, wanted)
    if servers is None:
        return {}, {}
    stopped = {}
    for incident in state.incidents.values():
        if incident.kind == vm_failure.KIND and \
                incident.state == vm_failure.REPORTED:
            answer = _read('nova-api', env.stopped_by_user,
                           incident.fact('vm'))
            if answer is not None:
                stopped[incident.fact('vm')] = answer
    return servers, stopped


# Incidents in these states are judged on the peer channel (and its
# signs of life stop an attestation, a rung or an evacuation).
_PEER_STATES = tuple(states.OPEN)


def _peer_views(env, state, aggregates, services, incidents=None):
    """The peer views of the hosts being confirmed, and of the hosts whose
    latest incident an operator closed (whether they live since is read
    there too), and of their segment peers (read only while some
    incident needs them)."""
    hosts = {i.host for i in state.incidents.values()
             if i.kind == states.KIND and i.state in _PEER_STATES}
    hosts |= {i.host for i in incidents or ()
              if i.kind == states.KIND and i.closed and
              i.state == states.CLOSED}
    if not hosts or aggregates is None:
        return None
    wanted = set(hosts)
    for host in hosts:
        view = ha_aggregates.host_view_of(aggregates, host)
        # The host's segment, or the hosts in no segment (whose monitors
        # may probe it).
        wanted |= guards.group_hosts(aggregates, services,
                                     guards.group_of(view))
    try:
        views = env.peer_views(wanted)
    except engine_env.Unavailable as e:
        LOG.warning('the coordination backend not answering: %s', e)
        return None      # not read: the core cannot tell this time
    if not views:
        return {}        # read: none (or no peer channel at all)
    # The peers a suspect's monitor announced count for its quorum even
    # where the engine's segments do not list them: read theirs too.
    announced = set()
    for host in hosts:
        report, _ = channels.latest_watchdog(host, views)
        if report is not None and report.peers:
            announced |= set(report.peers)
    more = announced - wanted
    if more:
        extra = _read('the coordination backend', env.peer_views, more)
        if extra is None:
            return None
        views = dict(views, **extra)
    return views


# Above this many VMs to read, one list of the cloud's servers changed
# since the failure costs nova-api less than a read of each.
FEW_SERVERS = 3


def _observe_moves(env, incident, state, vms, migrations, settled_due):
    """Nova's records of an incident's moves, with as few reads as will do:
    one list of the failed host's migrations, and the servers only of the
    VMs whose server tells more than their migrations and the plan (a
    move failed, a task state left by the host, a request of ours
    refused, a move ended well).  The others are as the plan read them,
    or in flight.

    A move that ended well is read once no other is under way (or when
    ``settled_due``): every read of a server is nova-api work that the
    rebuilds still running wait for, and nothing is decided for such a
    VM but restoring its power state and the incident's end.  Until then
    it is left out of the observation (the core waits on it)."""
    done = incident.fact('moved') or {}
    plan = {vm['id']: vm for vm in incident.fact('plan') or ()
            if vm['id'] not in done}
    if not plan:
        return
    moves = _read('nova-api', env.migrations, sorted(plan), incident.host,
                  incident.opened_at)
    if moves is None:
        return             # Nova did not answer: judged next time
    refused = {action_id.split(':')[1]
               for action_id in state.failed_requests}
    ended = {vm: _latest(moves.get(vm)) for vm in plan
             if _ended_move(moves.get(vm))}
    settled = {vm for vm, latest in ended.items()
               if latest.status not in model.MIGRATION_FAILED}
    under_way = any(_moving(moves.get(vm)) for vm in plan)
    later = settled if under_way and not settled_due else set()
    fresh = sorted(
        vm for vm in plan
        if vm not in later and (vm in refused or
                                plan[vm].get('task_state') or vm in ended))
    read = {}
    if fresh:
        read = _read('nova-api', env.servers, fresh, incident.host,
                     incident.opened_at if len(fresh) > FEW_SERVERS
                     else None)
        if read is None:
            return
    for vm_id, vm in plan.items():
        if vm_id in later:
            continue
        if vm_id in moves:
            migrations[vm_id] = moves[vm_id]
        vms[vm_id] = read.get(vm_id) or model.Server(
            vm_id, vm['name'], incident.host, vm['status'],
            vm.get('task_state'))


def _latest(migrations):
    return max(migrations, key=lambda m: m.created) if migrations else None


def _moving(migrations):
    latest = _latest(migrations)
    return latest is not None and latest.status in model.MIGRATION_IN_FLIGHT


def _ended_move(migrations):
    """The VM's latest move has ended (done, or failed): its server says
    where it is now."""
    latest = _latest(migrations)
    return latest is not None and \
        latest.status not in model.MIGRATION_IN_FLIGHT


def _aged(read, now):
    """Compute services read at ``read[0]``, as they read ``now``: their
    heartbeat ages grown by the time since (a reused read with its old
    ages would move every heartbeat forward, a report that never came)."""
    at, services = read
    return {host: dataclasses.replace(
        service, heartbeat_age=service.heartbeat_age + (now - at))
        if service.heartbeat_age is not None else service
        for host, service in services.items()}


class Replica:
    """The loop state of one replica: the core's state, and the results
    waiting for the next step.  ``submit(action)`` hands a side effect to
    the executor, which later calls ``deliver(result)``."""

    def __init__(self, env, settings, submit):
        self.env = env
        self.settings = settings
        self.state = core.EngineState()
        self._submit = submit
        self._results = []
        self.inflight = set()
        self._aggregates = None       # (read at, aggregates)
        self._services = None         # (read at, compute services)
        self._settled_read_at = None  # every ended move's server read

    def deliver(self, result):
        self.inflight.discard(result.action.id)
        self._results.append(result)
        if isinstance(result.action, model.ReleaseReserved):
            self._aggregates = None     # changed: read them again
        if isinstance(result.action, (model.ForceDown, model.Disable)):
            self._services = None

    def tick(self, now):
        """One iteration; returns when the core wants to look again."""
        results, self._results = self._results, []
        # A guard is judged only from a fresh read (a host marked for
        # maintenance a moment ago must not be fenced).
        reuse = not self.state.needs_fresh
        fresh = reuse and self._aggregates is not None and \
            now - self._aggregates[0] < self.settings.reconcile_interval
        recent = reuse and self._services is not None and \
            now - self._services[0] < SERVICES_MAX_AGE
        settled_due = self._settled_read_at is None or \
            now - self._settled_read_at >= self.settings.reconcile_interval
        if settled_due:
            self._settled_read_at = now
        obs = observe(self.env, self.state, results, self.inflight,
                      self._aggregates[1] if fresh else None,
                      _aged(self._services, now) if recent else None,
                      settled_due)
        if not fresh and obs.aggregates is not None:
            # Segments and reserved hosts change rarely: read them once
            # per reconcile interval, not on every look.
            self._aggregates = (now, obs.aggregates)
        if not recent and obs.services is not None:
            self._services = (now, obs.services)
        self.state, actions = core.step(self.state, obs, now,
                                        self.settings)
        refused = set()
        for action in actions:
            if action.incident in refused and action.guarded:
                continue
            if isinstance(action, _IN_TICK):
                result = run_action(self.env, action)
                if isinstance(action, model.Save) and not result.ok:
                    refused.add(action.incident)
                if not isinstance(action, model.Note):
                    self._results.append(result)
                continue
            self.inflight.add(action.id)
            self._submit(action)
        return core.next_wake(self.state, now, self.settings)

    @property
    def wants_another_look(self):
        """Results are waiting (an incident opened or taken over)."""
        return self.state.look_again or any(
            isinstance(r.action, (model.OpenIncident,
                                  model.TakeOver)) and r.ok
            for r in self._results)
