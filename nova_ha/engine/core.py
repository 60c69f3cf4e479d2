"""The decision core: ``step(state, observation, now) -> (state, actions)``.

No I/O, no threads, no clock: what the replica sees and the time come in,
the side effects to run come out (see nova_ha.engine.model).  The same core
runs in nova-ha-engine and in the simulated cloud.

Level-triggered: every step decides from what Nova, liveness and the
history show now.  A host that looks dead and has no open incident gets
one, whatever events were missed; an open incident whose lease nobody holds
is taken over; a move is asked of Nova only when Nova's own records show
none in flight.  The replica's memory (``EngineState``) holds only what
is cheap to lose: the incidents it owns (rebuilt from the history on
takeover), actions not yet answered, and the latest BMC readings.
"""

import dataclasses
import math
from typing import Optional

from nova_ha.engine import decisions
from nova_ha.engine import guards
from nova_ha.engine import ladder as fence_ladder
from nova_ha.engine import model
from nova_ha.engine import moves
from nova_ha.engine import process_failure
from nova_ha.engine import states
from nova_ha.engine import vm_failure
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.servicegroup import channels
from nova_ha.servicegroup import confirm as sg_confirm
from nova_ha.servicegroup import self_fence

DISABLED_REASON = 'nova-ha: host failed, fenced and evacuated'
# A host Nova shows down, but not this long: not (yet) a suspect on
# Nova's word alone (liveness or a report may say so sooner).
REPORT_MEMORY = 300.0
NOVA_ONLY = 'Nova shows nova-compute down'
# The escalation of a dead nova-compute on a live host (opt-in).
COMPUTE_DEAD = 'compute_dead'
# Nova's records are stamped by Nova's clock, incidents by the engine's:
# they agree within this (NTP), so earlier moves count from this far back.
CLOCK_MARGIN = 10.0


@dataclasses.dataclass(frozen=True)
class Settings:
    reconcile_interval: float = 10.0
    confirm: sg_confirm.ConfirmThresholds = sg_confirm.ConfirmThresholds()
    storm: guards.StormSettings = guards.StormSettings()
    fence_attempts: int = 3
    fence_retry_delay: float = 5.0
    evacuate_attempts: int = 2
    evacuation_timeout: float = 600.0
    # Evacuations of one host in Nova's scheduling path at once.
    max_concurrent_evacuations: int = 32
    # A BMC reading is fresh this long.
    power_read_interval: float = 2.0
    # host -> fence driver name; hosts not listed use default_fence_driver
    # (None: the host cannot be fenced).
    fence_drivers: tuple = ()
    default_fence_driver: Optional[str] = None
    # Or a function host -> driver name, for configured clouds.
    fence_driver_of: object = None
    disabled_reason: str = DISABLED_REASON
    peers: channels.PeerThresholds = channels.PeerThresholds()
    watchdog: self_fence.RungSettings = self_fence.RungSettings()
    # The ladder of hosts in no segment (a segment's is ha:fencing).
    fencing: tuple = ha_aggregates.DEFAULT_FENCING
    # Flap damping: a host with this many incidents (a cancelled one
    # counts: a heartbeat that comes and goes) within the window is
    # quarantined; 0 turns it off.
    quarantine_failures: int = 3
    quarantine_window: float = 3600.0
    # A live host whose nova-compute has not reported to Nova for this
    # long (its VMs can be neither stopped, moved nor watched) is fenced
    # and evacuated; 0: never (the process incident only disables it).
    compute_dead_fence_after: float = 0.0
    # VM failures: tries (restarts, then a move) within the window.
    vm_restart_max_attempts: int = 3
    vm_restart_window: float = 3600.0
    vm_migrate_when_restarts_fail: bool = True
    vm_restart_backoff: tuple = (10.0, 120.0)   # (first, longest)
    # How long a restart or a move of a failed VM may take.
    vm_restart_timeout: float = 180.0
    # Process failures: how long Nova may keep a dead nova-compute up
    # before an alert says it is not disabled yet.
    nova_down_wait: float = 120.0

    def fence_driver(self, host):
        if self.fence_driver_of is not None:
            return self.fence_driver_of(host)
        return dict(self.fence_drivers).get(host, self.default_fence_driver)


@dataclasses.dataclass(frozen=True)
class EngineState:
    incidents: dict = dataclasses.field(default_factory=dict)  # key -> Incident
    issued: frozenset = frozenset()       # action ids awaiting a result
    power: dict = dataclasses.field(default_factory=dict)  # host -> (state, at)
    reported: dict = dataclasses.field(default_factory=dict)  # host -> at
    fence_results: dict = dataclasses.field(default_factory=dict)
    failed_requests: dict = dataclasses.field(default_factory=dict)
    # An incident changed state: its new state's reads come with the next
    # observation, so the loop looks again at once.
    look_again: bool = False
    # A guard waits for a look that reads Nova afresh (not reused reads).
    needs_fresh: bool = False
    alive_at: dict = dataclasses.field(default_factory=dict)  # host -> at
    # A control-plane outage was alerted (and not yet over).
    outage: Optional[str] = None
    # observer -> (the time in its latest view, when this replica first
    # saw that view): a view is fresh while it keeps changing, whatever
    # the observer's clock says.
    views_seen: dict = dataclasses.field(default_factory=dict)
    # This replica alerted that it cannot reach the coordination backend,
    # and that Nova's API does not answer while it owns incidents.
    coordination_lost: bool = False
    nova_lost: bool = False
    # Monitors' reports not weighed yet: received while the history did
    # not answer (no decision is taken then), kept for the next step.
    unrelayed: tuple = ()
    # host -> ((forced_down, disabled, reason), when its record was last
    # written by someone, not by its heartbeat, and its latest stamp that
    # was a heartbeat)
    service_marks: dict = dataclasses.field(default_factory=dict)


def _service_marks(marks, obs, now):
    """When each service record was last written by someone: its last
    updated_at stamp, when a look sees its forced-down, disabled or
    reason change.  Seen for the first time, a forced-down record's
    stamp is taken for the force-down's (a live nova-compute stamps it
    again within report_interval), another's for a heartbeat.  Later
    stamps alone are heartbeats."""
    if obs.services is None:
        return marks
    found = {}
    for host, service in obs.services.items():
        mark = (service.forced_down, service.disabled,
                service.disabled_reason)
        known = marks.get(host)
        stamped = now - service.heartbeat_age \
            if service.heartbeat_age is not None else None
        if known is not None and known[0] == mark:
            heard = known[2]
            if stamped is not None and (known[1] is None or
                                        stamped > known[1] + 1.0):
                heard = max(heard or stamped, stamped)
            found[host] = (mark, known[1], heard)
        elif known is None:
            found[host] = (mark, stamped if service.forced_down else None,
                           None if service.forced_down else stamped)
        else:
            found[host] = (mark, stamped, known[2])
    return found


class _Step:
    """One step's working set: the state being built and the actions."""

    def __init__(self, state, obs, now, settings):
        # The host-failure rules read the host-failure incidents; the
        # other kinds, and ownership, read them all.
        self.all_incidents = obs.incidents
        self.obs = dataclasses.replace(obs, incidents=tuple(
            i for i in obs.incidents if i.kind == states.KIND))
        self.now = now
        self.settings = settings
        self.incidents = dict(state.incidents)
        self.issued = set(state.issued) - set(
            r.action.id for r in obs.results)
        self.power = dict(state.power)
        self.reported = dict(state.reported)
        self.fence_results = dict(state.fence_results)
        self.failed_requests = dict(state.failed_requests)
        self.alive_at = dict(state.alive_at)
        self.outage = state.outage
        self.views_seen = dict(state.views_seen)
        self.coordination_lost = state.coordination_lost
        self.nova_lost = state.nova_lost
        self.service_marks = _service_marks(state.service_marks, obs, now)
        self.events = _reports(state, obs)
        for observer, view in (obs.peer_views or {}).items():
            seen = self.views_seen.get(observer)
            if seen is None or seen[0] != view.at:
                self.views_seen[observer] = (view.at, now, seen is not None)
        self.actions = []
        self.saves = {}          # key -> list of TransitionRecord
        self.dirty = set()
        self.adopted = False     # an incident became ours in this step
        self.needs_fresh = False

    # -- helpers -------------------------------------------------------

    def issue(self, action):
        """Ask for a side effect once: not again while it is unanswered."""
        if action.id in self.issued or action.id in self.obs.inflight:
            return False
        self.issued.add(action.id)
        self.actions.append(action)
        return True

    def note(self, incident, message, kind='decision', **fields):
        """A record; one about an owned incident goes with the incident's
        next save, in order with its transitions, under its token."""
        host = fields.pop('host', incident.host if incident else None)
        note = model.Note(
            incident=incident.key if incident else None,
            token=incident.token if incident else 0, kind=kind,
            message=message, host=host, **fields)
        if incident is not None and incident.key in self.incidents:
            self.saves.setdefault(incident.key, []).append(note)
        else:
            self.actions.append(note)

    def move(self, incident, after, reason, **facts):
        changed, record = states.transition(incident, after, reason,
                                            self.now, **facts)
        self.incidents[incident.key] = changed
        self.saves.setdefault(incident.key, []).append(record)
        return changed

    def remember(self, incident, **facts):
        changed = incident.with_facts(**facts)
        self.incidents[incident.key] = changed
        self.dirty.add(incident.key)
        return changed

    def reported_after(self, service, at):
        return _reported_after(self, service, at)

    def finish(self):
        saves = []
        for key in sorted(set(self.saves) | self.dirty):
            incident = self.incidents.get(key)
            if incident is None:
                continue
            saves.append(model.Save(
                incident=key, token=incident.token, state=incident.state,
                facts=dict(incident.facts),
                records=tuple(self.saves.get(key, ()))))
        for incident in list(self.incidents.values()):
            if not incident.is_open:
                del self.incidents[incident.key]
                self.actions.append(model.Release(
                    incident=incident.key, token=incident.token))
        state = EngineState(
            incidents=self.incidents, issued=frozenset(self.issued),
            power=self.power, reported=self.reported,
            fence_results=self.fence_results,
            failed_requests=self.failed_requests,
            alive_at=self.alive_at, outage=self.outage,
            views_seen=self.views_seen,
            coordination_lost=self.coordination_lost,
            nova_lost=self.nova_lost,
            service_marks=self.service_marks,
            needs_fresh=self.needs_fresh,
            look_again=self.needs_fresh or self.adopted or any(
                not isinstance(r, model.Note)
                for records in self.saves.values() for r in records))
        # Writes of the history first: a side effect never runs ahead of
        # the record of the decision that asked for it.
        return state, saves + self.actions


def step(state, obs, now, settings=Settings()):
    if obs.incidents is None:
        # The history does not answer: no decision can be recorded, so
        # none is taken (the leases are still renewed by the loop).
        # Answers that came meanwhile are asked for again next time.
        return dataclasses.replace(state, look_again=False, issued=(
            state.issued - {r.action.id for r in obs.results}),
            unrelayed=_reports(state, obs)), []
    s = _Step(state, obs, now, settings)
    _coordination(s)
    # The history first: it tells whether our earlier writes landed, and
    # the results of this look must not be taken for a lost write.
    _absorb_history(s)
    _absorb_results(s)
    _open_incidents(s)
    _take_over(s)
    for key in sorted(s.incidents):
        incident = s.incidents[key]
        if incident.is_open and incident.token:
            _advance(s, incident)
    return s.finish()


def _reports(state, obs):
    """The monitors' reports to weigh: those kept from a step that could
    not decide, those received, and those whose incident could not be
    opened (the coordination backend or the history did not answer) or
    whose relay the history refused (their incident closed meanwhile: a
    new failure)."""
    return tuple(state.unrelayed) + tuple(obs.events) + tuple(
        r.action.report for r in obs.results
        if isinstance(r.action, (model.Relay, model.OpenIncident)) and
        not r.ok and r.action.report is not None)


def next_wake(state, now, settings=Settings()):
    """When the core wants to look again at the latest (timers in facts);
    the loop also wakes on every event and result."""
    wake = now + settings.reconcile_interval
    for incident in state.incidents.values():
        for name in ('until', 'next_fence_at'):
            at = incident.fact(name)
            if at is not None and at > now:
                wake = min(wake, at)
        if incident.state in _WATCHED.get(incident.kind, ()):
            wake = min(wake, now + settings.power_read_interval)
    return wake


# States followed closely (a BMC reading, a move, Nova's answer).
_WATCHED = {
    states.KIND: (states.CONFIRMING, states.FENCED, states.EVACUATING,
                  states.FENCING),
    vm_failure.KIND: (vm_failure.RESTARTING, vm_failure.MIGRATING),
}
# Each kind's incidents: opened from reports, advanced, told of requests.
_KINDS = {vm_failure.KIND: vm_failure, process_failure.KIND: process_failure}


# -- intake ------------------------------------------------------------------

def _coordination(s):
    """Without the coordination backend no failure can be confirmed (no
    heartbeat to read) nor acted on (no lease): an operator is told, and
    told again when it answers."""
    lost = s.obs.liveness is None
    if lost and not s.coordination_lost:
        s.note(None, '%s cannot reach the coordination backend: no host '
               'failure can be confirmed or recovered by it until it does'
               % s.obs.me, kind='alert', outcome='coordination_lost')
    elif not lost and s.coordination_lost:
        s.note(None, '%s reaches the coordination backend again' % s.obs.me,
               kind='decision', outcome='coordination_back')
    s.coordination_lost = lost
    # Nova not answering stops every incident this replica owns.
    waiting = sorted(k for k, i in s.incidents.items() if i.is_open)
    lost = s.obs.services is None and bool(waiting)
    if lost and not s.nova_lost:
        s.note(None, "nova-api does not answer %s: its incidents wait (%s)"
               % (s.obs.me, ', '.join(waiting)), kind='alert',
               outcome='nova_lost')
    elif not lost and s.nova_lost:
        s.note(None, 'nova-api answers %s again' % s.obs.me,
               kind='decision', outcome='nova_back')
    s.nova_lost = lost


def _absorb_results(s):
    for result in s.obs.results:
        action = result.action
        if isinstance(action, model.ReadPower):
            s.power[action.host] = (result.value if result.ok else 'unknown',
                                    s.now)
        elif isinstance(action, (model.OpenIncident, model.TakeOver)):
            if result.ok and result.value is not None:
                stored = result.value
                s.incidents[stored.key] = states.Incident(
                    stored.key, stored.host, stored.state, stored.opened_at,
                    stored.since, stored.generation, dict(stored.facts))
                verb = 'opened' if isinstance(action, model.OpenIncident) \
                    else 'took over'
                s.adopted = True
                s.note(s.incidents[stored.key], '%s %s (%s), generation %d'
                       % (s.obs.me, verb, stored.key, stored.generation),
                       kind='lease')
        elif isinstance(action, model.Save) and not result.ok and \
                (result.error or '').startswith('StaleLease'):
            # The history refused the write: another owner has it now.
            # (A history that did not answer is read again next time.)
            s.incidents.pop(action.incident, None)
        elif isinstance(action, model.Fence):
            s.fence_results[action.id] = result
        elif result.ok and action.incident in s.incidents:
            _note_done(s, s.incidents[action.incident], action, result)
        elif not result.ok and action.incident in s.incidents:
            incident = s.incidents[action.incident]
            s.failed_requests[action.id] = result.error
            s.note(incident, '%s refused: %s' % (
                action.id, result.error), kind='error')


def _label(incident, vm):
    for planned in incident.fact('plan') or ():
        if planned['id'] == vm:
            return planned['name'] or vm
    return vm


def _note_done(s, incident, a, result):
    """The history's line for a side effect that Nova accepted."""
    if isinstance(a, model.ForceDown):
        incident = s.remember(incident, forced_down=True)
        s.note(incident, 'nova-compute on %s forced down' % a.host,
               kind='service', outcome='forced_down')
    elif isinstance(a, model.Enable):
        s.remember(incident, enabled=True)
    elif isinstance(a, model.RestartVM):
        s.note(incident, 'Nova asked to %s %s' % (
            a.how.replace('_', ' '), a.vm), kind='restart', instance=a.vm,
            outcome='attempt')
    elif isinstance(a, model.MigrateVM):
        s.note(incident, 'Nova asked to migrate %s to another host of its '
               'segment' % a.vm, kind='restart', instance=a.vm,
               outcome='attempt')
    elif isinstance(a, model.Disable):
        incident = s.remember(incident, disabled=True)
        s.note(incident, 'nova-compute on %s disabled: %s' % (
            a.host, a.reason), kind='service', outcome='disabled')
    elif isinstance(a, model.ResetStaleTask):
        s.note(incident, 'task %s of %s: %s' % (
            a.task_state, _label(incident, a.vm), result.value),
               kind='evacuate', instance=a.vm, outcome=result.value)
    elif isinstance(a, model.SetPower):
        s.note(incident, 'restoring %s to %s (its state before the '
               'failure)' % (_label(incident, a.vm), a.want), kind='power',
               instance=a.vm)
    elif isinstance(a, model.ReleaseReserved):
        released = sorted(set(incident.fact('released') or ()) |
                          {'%s:%s' % (a.host, a.aggregate)})
        incident = s.remember(incident, released=released)
        why = 'is quarantined' if a.host == incident.host else \
            'received VMs'
        s.note(incident, 'reserved host %s %s and is no longer reserved '
               '(removed from aggregate %s)' % (a.host, why, a.aggregate),
               kind='decision', host=a.host)


def _absorb_history(s):
    """The history is the truth about ownership and operators' requests."""
    if s.all_incidents is None:
        return
    stored = {i.key: i for i in s.all_incidents}
    for key, incident in list(s.incidents.items()):
        seen = stored.get(key)
        lease = s.obs.leases.get(key)
        if seen is None:
            continue
        if seen.closed or seen.generation != incident.token or \
                lease == 'lost':
            why = 'closed in the history' if seen.closed else \
                'lease lost' if lease == 'lost' else \
                'generation %d in the history' % seen.generation
            del s.incidents[key]
            s.actions.append(model.Note(
                incident=key, token=incident.token, kind='lease',
                message='%s stops acting on %s: %s' % (
                    s.obs.me, key, why), host=incident.host))
            continue
        if (seen.state, seen.facts) != (incident.state, incident.facts):
            # A write of ours did not reach the history: continue from
            # what it holds, the only state another owner would see.
            incident = states.Incident(
                key, incident.host, seen.state, incident.opened_at,
                seen.since, incident.token, dict(seen.facts))
            s.incidents[key] = incident
        for request, details in sorted((seen.operator or {}).items()):
            if incident.fact('operator_' + request) != details:
                _operator_request(s, incident, request, details)
                incident = s.incidents[key]


def _operator_request(s, incident, request, details):
    who = details.get('who', '?')
    reason = details.get('reason', '')
    incident = s.remember(incident, **{'operator_' + request: details})
    if incident.kind in _KINDS:
        incident = _KINDS[incident.kind].on_request(s, incident, request,
                                                    details)
        s.issue(model.ClearRequest(incident=incident.key,
                                   token=incident.token, request=request))
        return
    _, ladder = _segment_peers(s, incident.host)
    if request == 'confirm_down' and \
            not fence_ladder.accepts_attestation(ladder):
        s.note(incident, 'operator %s confirmed %s down, but its ladder (%s) '
               'has no operator rung: not taken' % (
                   who, incident.host, fence_ladder.describe(ladder)),
               kind='alert', outcome='attestation_refused')
    elif request == 'confirm_down' and incident.state in (
            states.DETECTED, states.CONFIRMING, states.HELD, states.PARKED):
        incident = s.remember(incident, proof={
            'rung': 'operator', 'who': who, 'reason': reason})
        if incident.state == states.PARKED:
            s.move(incident, states.DETECTED, 'operator %s confirmed %s '
                   'powered off (%s); guards run again' % (
                       who, incident.host, reason))
    elif request == 'retry' and incident.state in (states.PARKED,
                                                   states.HELD):
        s.move(incident, states.DETECTED, 'operator %s asked to retry (%s);'
               ' guards run again' % (who, reason), alerted=None,
               fence_attempt=None, rule=None, until=None)
    s.issue(model.ClearRequest(incident=incident.key, token=incident.token,
                               request=request))


def _suspects(s):
    """Hosts that look dead now, and why."""
    obs = s.obs
    found = {}
    for host, at in list(s.reported.items()):
        if s.now - at > REPORT_MEMORY:
            del s.reported[host]
    for host, kind, at in obs.reports:
        if kind != 'down':
            s.reported.pop(host, None)
        elif (obs.liveness or {}).get(host) == model.ALIVE:
            s.note(None, 'report of %s down not taken: its heartbeat is '
                   'alive' % host, kind='event.unconfirmed', host=host)
        else:
            s.reported[host] = at
    if s.settings.compute_dead_fence_after and obs.services is not None:
        _control_plane_outage(s)      # alerted as it starts
    hosts = set(obs.services or ()) | set(obs.liveness or ()) | \
        set(s.reported)
    for host in sorted(hosts):
        alive = (obs.liveness or {}).get(host)
        service = (obs.services or {}).get(host)
        if alive == model.ALIVE:
            s.alive_at[host] = s.now
            silent = _compute_dead_for(s, service)
            if silent is not None:
                found[host] = 'nova-compute has not reported for %.0f s ' \
                    'on a live host' % silent
            continue     # the host heartbeats: a dead process is no death
        why = []
        if alive == model.LOST:
            why.append('liveness lost')
        if service is not None and not service.up:
            why.append(NOVA_ONLY)
        if host in s.reported:
            why.append('reported down')
        if why:
            found[host] = ', '.join(why)
    return found


def _open_incidents(s):
    if s.obs.incidents is None:
        return        # the history did not answer: open nothing blind
    latest = {}
    open_hosts = set()
    for stored in s.obs.incidents:
        if not stored.closed:
            open_hosts.add(stored.host)
        seq = states.sequence_of(stored.key) or 0
        if seq >= latest.get(stored.host, (0, None))[0]:
            latest[stored.host] = (seq, stored)
    open_hosts |= {i.host for i in s.incidents.values()
                   if i.kind == states.KIND}
    for host, why in sorted(_suspects(s).items()):
        if host in open_hosts:
            continue
        seq, last = latest.get(host, (0, None))
        if last is not None and _still_recovered(s, host, last):
            continue
        if why == NOVA_ONLY:
            # Nova's verdict alone cannot tell a dead host from a dead
            # nova-compute on a live one (a process incident's case): only
            # a BMC that reports the power off makes it a suspect.
            if _power(s, host) != 'off':
                continue
            why += ' and the BMC reports its power off'
        s.issue(model.OpenIncident(host=host, sequence=seq + 1, reason=why))
    for kind in _KINDS.values():
        kind.open_incidents(s)


def _still_recovered(s, host, last):
    """Nova still shows the host as nova-ha left it after recovering it
    (forced down): the same failure, not a new one.  A host disabled for
    a dead nova-compute, or brought back by an operator, is not.  A host
    whose incident an operator closed is left to them until it shows it
    lived since the close: this replica saw it alive, or nova-compute
    reported to Nova after it (a durable record, which a restarted
    replica and a cloud without coordination heartbeats still have)."""
    service = (s.obs.services or {}).get(host)
    if last.state == states.CLOSED and \
            _peer_channel(s, host).verdict == channels.REACHABLE:
        s.alive_at[host] = s.now      # its peers hear it: it lives
    lived = s.alive_at.get(host, float('-inf')) >= last.since or (
        service is not None and _reported_after(s, service, last.since))
    if last.state == states.CLOSED and not lived:
        return True     # an operator took it in hand; until it is back
    # Powered on again (repaired, not yet returned) and dead once more: a
    # new failure, whatever Nova's forced-down says.
    return last.state in (states.RECOVERED, states.PARTIAL, states.CLOSED) \
        and service is not None and service.forced_down and not lived


def _take_over(s):
    for stored in s.all_incidents or ():
        if stored.closed or stored.key in s.incidents or \
                stored.state not in states.table_of(stored.key).open:
            # (An open incident in a state outside the table was left by
            # an earlier engine: an operator closes it, see docs.)
            continue
        if s.obs.leases.get(stored.key) == 'free':
            s.issue(model.TakeOver(incident=stored.key,
                                   generation=stored.generation))


# -- the incident's states ---------------------------------------------------

def _advance(s, incident):
    """Run the handler of the incident's state, and of each state it moves
    to within this step (a decision needs no second look)."""
    if incident.kind in _KINDS:
        _run_handlers(s, incident, _KINDS[incident.kind].HANDLERS)
        return
    if incident.state in states.BEFORE_FENCE and \
            incident.fact('liveness_lost_at') is None and \
            (s.obs.liveness or {}).get(incident.host) == model.LOST:
        # When the host's coordination heartbeat was reported lost (the
        # watchers' time), or this incident first saw it lost: the host
        # wrote none after it (the watchdog rung's start).
        lost = (s.obs.lost_at or {}).get(incident.host)
        incident = s.remember(incident, liveness_lost_at=min(
            s.now, lost if lost is not None else s.now))
    _run_handlers(s, incident, _HANDLERS)


def _run_handlers(s, incident, handlers):
    """The handler of each state the incident is in, while it moves."""
    for _ in range(8):
        before = incident.state
        handlers[before](s, incident)
        incident = s.incidents.get(incident.key)
        if incident is None or incident.state == before or \
                not incident.is_open:
            return


def _handlers():
    return {
        states.DETECTED: _detected,
        states.CONFIRMING: _confirming,
        states.HELD: _held,
        states.FENCING: _fencing,
        states.FENCED: _fenced,
        states.EVACUATING: _evacuating,
        states.PARKED: _parked,
    }


def _compute_dead_for(s, service):
    """Seconds nova-compute has been silent past the escalation's
    deadline, or None: escalation off, forced down by us, reporting, no
    monitor reporting it dead (Nova's silence alone is also what an
    outage of the conductor or the bus looks like), or many hosts silent
    together (such an outage)."""
    after = s.settings.compute_dead_fence_after
    if not after or service is None or service.forced_down:
        return None
    # Since its last heartbeat: a write of the record (the process
    # incident's disable) stamps it too, and is no sign of life.
    heard = s.service_marks.get(service.host, (None, None, None))[2]
    age = None if heard is None else s.now - heard
    if age is None or age < after:
        return None
    if service.host not in (s.obs.process_down or {}) and \
            service.host not in process_failure.down_since(s.all_incidents):
        return None
    if _control_plane_outage(s):
        return None
    return age


def _control_plane_outage(s):
    """The reason many hosts look dead to Nova at once, alerted once per
    outage (the escalation of a dead nova-compute stands down)."""
    reason = guards.control_plane_outage(
        s.obs.services, s.settings.confirm.nova_heartbeat_stale_s,
        s.settings.storm)
    if reason and not s.outage:
        s.note(None, '%s: the escalation of a dead nova-compute stands '
               'down until it ends' % reason, kind='alert',
               outcome='control_plane_outage')
    s.outage = reason
    return reason


def _host_back(s, incident):
    """The host heartbeats again (or Nova sees it up, when liveness says
    nothing): it was not dead after all, or it was repaired.  For the
    escalation of a dead nova-compute, the host lives all along: only
    nova-compute reporting again ends it."""
    host = incident.host
    alive = (s.obs.liveness or {}).get(host)
    service = (s.obs.services or {}).get(host)
    if incident.fact('policy') == COMPUTE_DEAD:
        if service is not None and service.heartbeat_age is not None and \
                service.heartbeat_age < \
                s.settings.compute_dead_fence_after and \
                _reported_after(s, service, -math.inf):
            return 'nova-compute reports to Nova again'
        return None
    if alive == model.ALIVE:
        return 'its heartbeat is back'
    if alive is None and service is not None and service.up and \
            host not in s.reported and _reported_since(s, service,
                                                       incident):
        return 'Nova sees nova-compute up again'
    return None


def _reported_since(s, service, incident, at=None):
    """nova-compute reported to Nova after the incident opened (or
    ``at``).  Nova's "up" alone says nothing: it counts a host up until
    its heartbeat is older than Nova's down time (60 s), and a replica
    that takes the incident over has not seen the report that opened it."""
    return _reported_after(s, service,
                           incident.opened_at if at is None else at)


def _reported_after(s, service, at):
    """nova-compute reported to Nova after ``at`` (the engine's clock;
    Nova's stamps agree within CLOCK_MARGIN).

    Nova's API shows the heartbeat only as the service's updated_at,
    which every write of the service stamps too (a force-down, a
    maintenance mark): a stamp is a report only when it is newer than
    the last write this replica saw."""
    age = service.heartbeat_age
    if age is None:
        return False
    stamped = s.now - age
    written = s.service_marks.get(service.host, (None, None, None))[1]
    return stamped > at + CLOCK_MARGIN and \
        (written is None or stamped > written + 1.0)


def _failures(s, incident):
    """When the host's incidents within the quarantine window opened,
    this one's included (carried from one incident to the next)."""
    since = s.now - s.settings.quarantine_window
    earlier = []
    for stored in s.obs.incidents or ():
        if stored.host == incident.host and stored.key != incident.key:
            earlier += stored.facts.get('failures') or [stored.opened_at]
    return sorted({round(t, 3) for t in earlier if t >= since} |
                  {round(incident.opened_at, 3)})


def _quarantine(s, incident):
    """Flap damping, judged once per incident: a host that failed too
    often is disabled in Nova, no longer reserved, and an operator is
    alerted; its VMs are still recovered."""
    failures = _failures(s, incident)
    incident = s.remember(incident, failures=failures)
    limit = s.settings.quarantine_failures
    if not limit or len(failures) < limit:
        return incident
    window = s.settings.quarantine_window
    reason = 'nova-ha: quarantined: %d failures within %.0f s' % (
        len(failures), window)
    incident = s.remember(incident, quarantined=True)
    s.note(incident, '%s quarantined: %d failures within %.0f s; it stays '
           'disabled and out of the reserved capacity until an operator '
           'brings it back' % (incident.host, len(failures), window),
           kind='alert', outcome='quarantined')
    s.issue(model.Disable(incident=incident.key, token=incident.token,
                          host=incident.host, reason=reason))
    for aggregate in _reserved_aggregates(s, incident.host):
        s.issue(model.ReleaseReserved(
            incident=incident.key, token=incident.token,
            host=incident.host, aggregate=aggregate))
    return incident


def _reserved_aggregates(s, host):
    """The ids of the aggregates that make ``host`` a reserved host."""
    return [agg.id for agg in s.obs.aggregates or ()
            if host in agg.hosts and ha_aggregates.parse_bool(
                agg.metadata.get(ha_aggregates.RESERVED_KEY, 'false'),
                ha_aggregates.RESERVED_KEY, True, [])]


def _detected(s, incident):
    if incident.fact('failures') is None:
        incident = _quarantine(s, incident)
    host = incident.host
    silent = _compute_dead_for(s, (s.obs.services or {}).get(host))
    if incident.fact('policy') is None and silent and \
            (s.obs.liveness or {}).get(host) == model.ALIVE:
        # The last step of a dead nova-compute's escalation: the host
        # lives, so no channel is asked whether it is dead; its BMC's
        # power-off is the proof, as for any fence.
        incident = s.remember(incident, policy=COMPUTE_DEAD)
        s.note(incident, 'nova-compute on %s has not reported for %.0f s '
               '(compute_dead_fence_after): its VMs cannot be managed; '
               'fencing and evacuating it' % (host, silent),
               kind='alert', outcome='escalated')
    back = _host_back(s, incident)
    if back:
        if incident.fact('proof'):
            _proof_void(s, incident, back)
        s.move(incident, states.CANCELLED, back)
        return
    alive = _alive_evidence(s, incident) if incident.fact('proof') else None
    if alive:
        _proof_void(s, incident, alive)
        incident = s.remember(incident, proof=None, watchdog=None)
    if incident.fact('proof') or incident.fact('policy') == COMPUTE_DEAD:
        _judge_guards(s, incident)
        return
    s.move(incident, states.CONFIRMING, 'asking a second channel')


def _power(s, host, since=None):
    """The BMC's latest reading: None when no BMC is consulted for the
    host (no fencing, or the noop driver); 'unknown' until there is one
    taken at or after ``since`` (a reading from the host's previous failure
    says nothing of this one)."""
    driver = s.settings.fence_driver(host)
    if driver in (None, 'noop'):
        return None
    reading = s.power.get(host)
    if reading is not None and since is not None and reading[1] < since:
        reading = None
    if reading is None or s.now - reading[1] >= \
            s.settings.power_read_interval:
        s.issue(model.ReadPower(host=host))
    return reading[0] if reading else 'unknown'


def _nova_heartbeat_age(service):
    """Seconds since nova-compute last wrote its heartbeat to Nova's
    database; None when Nova does not know the host.  Nova's "down" is not
    used when the age is known: with servicegroup_driver = nova_ha it is
    the very heartbeat the incident opened on, not a second channel."""
    if service is None:
        return None
    if service.heartbeat_age is not None:
        return service.heartbeat_age
    return 1e9 if not service.up else None


def _confirming(s, incident):
    host = incident.host
    back = _host_back(s, incident)
    if back:
        if incident.fact('proof'):
            _proof_void(s, incident, back)
        s.move(incident, states.CANCELLED, back)
        return
    if (incident.fact('proof') or {}).get('rung') == 'operator':
        # An operator's confirm-down while the channels still confirm:
        # acted on at once, unless the host shows signs of life.
        alive = _alive_evidence(s, incident)
        if not alive:
            _judge_guards(s, incident)
            return
        _proof_void(s, incident, alive)
        incident = s.remember(incident, proof=None)
    age = _nova_heartbeat_age((s.obs.services or {}).get(host))
    power = _power(s, host, since=incident.opened_at)
    if power == 'unknown' and (host not in s.power or
                               s.power[host][1] < incident.opened_at):
        return            # the incident's first reading is on its way
    peers = _peer_channel(s, host)
    if peers.verdict is None and _peers_unsettled(s, host):
        return   # a peer's first view read is not yet judged: one more look
    decision = sg_confirm.confirm_host_down(
        heartbeat_lost=True, bmc_power=power,
        nova_heartbeat_age_s=age,
        lost_for_s=s.now - incident.opened_at,
        thresholds=s.settings.confirm, peers=peers.verdict)
    if decision.rule != incident.fact('rule'):
        incident = s.remember(incident, rule=decision.rule)
        s.note(incident, 'confirming %s is down: %s (%s%s)' % (
            host, decision.reason, decision.rule,
            '; peers: ' + peers.reason if peers.verdict else ''),
            kind='alert' if decision.action == sg_confirm.ALERT
            else 'decision', outcome=decision.action)
    if decision.action == sg_confirm.FENCE:
        _judge_guards(s, incident)
        return
    _, ladder = _segment_peers(s, host)
    if decision.rule in ('R6', 'R7'):
        # The BMC cannot be read: passed over, the ladder's next rung.
        rung = fence_ladder.current(ladder, incident.fact('spent') or (),
                                    passed=(fence_ladder.BMC,))
        decided = _watchdog_rung(s, incident) \
            if rung == fence_ladder.WATCHDOG else False
        waiting = decided is not False
        if rung == fence_ladder.WATCHDOG and decided is False:
            _spend(s, incident, rung)
        if s.incidents[incident.key].state != states.CONFIRMING or \
                waiting and decision.rule == 'R6':
            return     # proven, or the rung's safe time is ahead
        # Overdue with the rung still waiting (a peer the host announced
        # may still answer it): parked for an operator, the rung still
        # consulted there.
    if decision.action == sg_confirm.ALERT and \
            decision.rule not in ('R4', 'R11'):
        _park(s, s.incidents[incident.key], ladder,
              'no proof of power-off can be had (%s)' % decision.rule,
              alert=False)


def _segment_peers(s, host):
    """(peers, ladder): the other hosts of ``host``'s segment and the
    segment's fencing ladder; for a host in no segment, the other hosts
    in no segment (those whose monitors probe it speak of it) and the
    ladder of such hosts."""
    if s.obs.aggregates is None:
        return (), s.settings.fencing
    view = ha_aggregates.host_view_of(s.obs.aggregates, host)
    group = guards.group_of(view)
    peers = guards.group_hosts(s.obs.aggregates, s.obs.services,
                               group) - {host}
    ladder = view.segment.fencing if view.segment is not None else \
        s.settings.fencing
    return tuple(sorted(peers)), ladder


def _view_fresh(s, view):
    """A view speaks of now: it changed within view_max_age by this
    replica's clock (once seen changing), or, on first sight, its time is
    within view_max_age of this replica's clock."""
    seen = s.views_seen.get(view.observer)
    max_age = s.settings.peers.view_max_age
    if seen is None or seen[0] != view.at or not seen[2]:
        return channels.fresh(view, s.now, s.settings.peers)
    return s.now - seen[1] <= max_age


def _peers_unsettled(s, host):
    """A peer's view read for the first time, whose time is off this
    replica's clock: it cannot be called stale before a later read shows
    whether it changes (an engine that first reads the views after an
    outage, on a clock behind the peers', took every one for stale and
    fenced a host its peers heard).  Bounded by view_max_age from the
    first sight."""
    views = s.obs.peer_views or {}
    max_age = s.settings.peers.view_max_age
    for peer in _segment_peers(s, host)[0]:
        view = views.get(peer)
        seen = s.views_seen.get(peer)
        if view is None or seen is None or seen[0] != view.at or seen[2]:
            continue
        if s.now - seen[1] <= max_age and \
                not channels.fresh(view, s.now, s.settings.peers):
            return True
    return False


def _peer_channel(s, host):
    peers, _ = _segment_peers(s, host)
    unsegmented = s.obs.aggregates is not None and \
        ha_aggregates.host_view_of(s.obs.aggregates, host).segment is None
    return channels.judge_peers(host, peers, s.obs.peer_views or {}, s.now,
                                s.settings.peers, probers_only=unsegmented,
                                is_fresh=lambda v: _view_fresh(s, v))


def _alive_evidence(s, incident):
    """What shows the host alive now (why no rung or attestation may act
    on it), or None.  The three inputs of a monitor's own quorum: its
    coordination heartbeat, peers that hear it, and its own peer view in
    the backend."""
    host = incident.host
    if (s.obs.liveness or {}).get(host) == model.ALIVE:
        return 'its coordination heartbeat is alive'
    peers = _peer_channel(s, host)
    if peers.verdict == channels.REACHABLE:
        return 'its segment peers hear it (%s)' % peers.reason
    own = (s.obs.peer_views or {}).get(host)
    if own is not None and _view_fresh(s, own):
        return 'it still publishes its peer view'
    service = (s.obs.services or {}).get(host)
    # A report to Nova counts from the incident's opening, or, once the
    # BMC powered the host off, from then (reports before say nothing).
    proof = incident.fact('proof') or {}
    since = proof['at'] if proof.get('rung') == 'bmc' and \
        proof.get('at') is not None else incident.opened_at
    if incident.fact('policy') != COMPUTE_DEAD and service is not None \
            and _reported_since(s, service, incident, since):
        return 'nova-compute reported to Nova after %s' % (
            'its power-off' if since != incident.opened_at else
            'the incident opened')
    return None


def _proven_off(s):
    """host -> since when its BMC proved it powered off, for the hosts
    that have not heartbeated since (their stale views say nothing, but
    they cannot answer anyone)."""
    found = {}
    for stored in s.obs.incidents or ():
        proof = stored.facts.get('proof') or {}
        if proof.get('rung') == 'bmc' and proof.get('at') is not None and \
                (s.obs.liveness or {}).get(stored.host) != model.ALIVE:
            found[stored.host] = max(found.get(stored.host, proof['at']),
                                     proof['at'])
    return found


def _compare_peers(s, incident, rung):
    """The peers the host's monitor counts against the engine's idea of
    its segment: a difference is a configuration to fix (the rung
    counts the host's own list either way)."""
    announced = (rung.proof or {}).get('peers')
    if announced is None:
        return incident
    segment, _ = _segment_peers(s, incident.host)
    if set(announced) != set(segment) and \
            not incident.fact('peers_differ'):
        incident = s.remember(incident, peers_differ=True)
        s.note(incident, "%s's monitor counts the peers %s, its segment "
               "has %s: check [monitor_peers] peers on its hosts" % (
                   incident.host, ', '.join(announced) or 'none',
                   ', '.join(segment) or 'none'), kind='alert',
               outcome='peers_differ')
    return incident


def _watchdog_rung(s, incident):
    """The watchdog rung: True when it decided (proof taken, or waiting
    for the safe time), False when it cannot prove this host off, None
    when this look cannot tell (the peer views were not read)."""
    host = incident.host
    if (incident.fact('proof') or {}).get('rung') == 'watchdog':
        _judge_guards(s, incident)     # proven on an earlier look
        return True
    _, ladder = _segment_peers(s, host)
    if 'watchdog' not in ladder:
        return False
    if s.obs.peer_views is None:
        return None
    if incident.fact('policy') == COMPUTE_DEAD:
        rung = self_fence.RungJudgement(False, 'the host lives (only its '
                                        'nova-compute is dead): its BMC '
                                        'alone can fence it')
    else:
        alive = _alive_evidence(s, incident)
        rung = self_fence.RungJudgement(False, alive) if alive else \
            self_fence.judge(host, s.obs.peer_views or {},
                             incident.fact('liveness_lost_at'), s.now,
                             s.settings.watchdog, s.settings.peers,
                             _proven_off(s),
                             lambda v: _view_fresh(s, v))
        incident = _compare_peers(s, incident, rung)
    if not rung.possible:
        if incident.fact('watchdog') != rung.reason:
            incident = s.remember(incident, watchdog=rung.reason,
                                  until=None)
            s.note(incident, 'watchdog rung for %s: %s' % (host, rung.reason))
        return False
    if s.now < rung.safe_at:
        waited = s.now - incident.fact('watchdog_since', s.now)
        if waited > s.settings.confirm.max_wait_s:
            # Its safe time kept receding (a peer the host counts may
            # still answer it): the ladder's next rung.
            why = 'its safe time kept receding for %.0f s' % waited
            if incident.fact('watchdog') != why:
                incident = s.remember(incident, watchdog=why, until=None)
                s.note(incident, 'watchdog rung for %s: %s' % (host, why))
            return False
        if incident.fact('watchdog') != 'waiting':
            incident = s.remember(incident, watchdog='waiting',
                                  watchdog_since=s.now)
            s.note(incident, 'watchdog rung for %s: %s' % (host, rung.reason),
                   outcome='wait')
        s.remember(incident, until=rung.safe_at)
        return True
    incident = s.remember(incident, proof=rung.proof, watchdog='proven',
                          until=None)
    s.note(incident, 'watchdog rung for %s: %s' % (host, rung.reason),
           kind='fence', outcome='self_fenced', detail=rung.proof)
    if incident.state == states.PARKED:
        s.move(incident, states.DETECTED, 'its watchdog has reset %s; '
               'guards run again' % host)
    else:
        _judge_guards(s, incident)
    return True


def _judge_guards(s, incident):
    obs = s.obs
    if obs.aggregates is None or obs.services is None:
        return            # Nova did not answer: judge on the next look
    if not obs.fresh:
        s.needs_fresh = True     # judged on a look that reads Nova again
        return
    host = incident.host
    if incident.fact('policy') == COMPUTE_DEAD and \
            _compute_dead_for(s, obs.services.get(host)) is None:
        why = 'the escalation of a dead nova-compute on %s stands down: ' \
            '%s' % (host, _control_plane_outage(s) or 'its monitor no '
                    'longer reports nova-compute dead')
        if incident.state != states.HELD or incident.fact('held') != why:
            s.move(incident, states.HELD, why, held=why,
                   until=s.now + s.settings.reconcile_interval)
        return
    view = ha_aggregates.host_view_of(obs.aggregates, host)
    group = guards.group_of(view)
    members = guards.group_hosts(obs.aggregates, obs.services, group)
    members.add(host)
    mine = [i for i in obs.incidents or () if not i.closed and
            i.host in members]
    failing = {i.host for i in mine} | {host}
    # The run of reports counts those already closed too: a first host
    # recovered within moments still makes the next one the second.
    settle = s.settings.storm.settle_time
    recent = [i for i in obs.incidents or () if i.host in members and
              i.state != states.CANCELLED and
              i.opened_at >= incident.opened_at - 2 * settle]
    index = guards.run_index(
        {(i.opened_at, i.key) for i in mine + recent} |
        {(incident.opened_at, incident.key)}, incident.key, settle)
    driver = s.settings.fence_driver(host)
    proof = incident.fact('proof')
    power = s.power.get(host, (None,))[0]
    verdict = guards.judge(
        host, view,
        in_maintenance=ha_aggregates.service_in_maintenance(
            _service_dict(obs.services.get(host))),
        failing=failing, group_size=len(members), run_index=index,
        reported_at=incident.opened_at, now=s.now, storm=s.settings.storm,
        powers_off=driver not in (None, 'noop'),
        dead_for_certain=bool(proof) or power == 'off')
    if not verdict.proceed:
        if incident.state != states.HELD or \
                incident.fact('held') != verdict.reason:
            s.move(incident, states.HELD, verdict.reason,
                   held=verdict.reason, until=verdict.until)
            if verdict.alert:
                s.note(incident, verdict.reason, kind='alert')
        return
    if incident.fact('proceeded') != verdict.reason:
        incident = s.remember(incident, proceeded=verdict.reason)
        s.note(incident, verdict.reason, outcome='proceed')
    incident = s.remember(incident, held=None, until=None,
                          segment=view.segment_name)
    if proof and proof.get('rung') == 'watchdog':
        s.move(incident, states.FENCED, 'its %s watchdog reset %s by %.1f '
               '(rung watchdog)' % (proof.get('kind'), host,
                                    proof.get('safe_at')))
        return
    if proof:
        s.move(incident, states.FENCED, 'power-off attested by operator %s '
               '(%s)' % (proof.get('who'), proof.get('reason')))
        return
    alive = _alive_evidence(s, incident) if incident.state == states.HELD \
        and incident.fact('policy') != COMPUTE_DEAD else None
    if alive:
        # Held for long, the host shows life again: the confirmation that
        # led here is old; the channels decide again.
        s.move(incident, states.DETECTED, 'signs of life after the hold (%s):'
               ' confirming again' % alive, rule=None)
        return
    _climb(s, incident, driver)


def _climb(s, incident, driver):
    """Guards passed, no proof yet: the ladder's current rung."""
    host = incident.host
    _, ladder = _segment_peers(s, host)
    while True:
        rung = fence_ladder.current(ladder, incident.fact('spent') or ())
        if rung == fence_ladder.BMC and driver is not None:
            s.move(incident, states.FENCING, 'guards passed; powering %s '
                   'off' % host, fence_attempt=1)
            return
        if rung == fence_ladder.WATCHDOG and \
                _watchdog_rung(s, incident) is not False:
            return        # proven, waiting for its safe time, or unknown
        if rung == fence_ladder.OPERATOR or rung is None:
            _park(s, incident, ladder, 'guards passed')
            return
        incident = _spend(s, incident, rung, 'no fencing is configured for '
                          '%s' % host if rung == fence_ladder.BMC else None)


def _spend(s, incident, rung, why=None):
    """The rung cannot prove this host off: the next one is tried."""
    spent = sorted(set(incident.fact('spent') or ()) | {rung})
    incident = s.remember(incident, spent=spent)
    if why:
        s.note(incident, '%s: rung %s spent' % (why, rung))
    return incident


def _park(s, incident, ladder, why, alert=True):
    """No rung left but a person: parked, with an alert (unless the
    decision that parks it was one)."""
    host = incident.host
    if fence_ladder.accepts_attestation(ladder):
        ask = 'an operator must confirm %s powered off (nova-ha host ' \
            'confirm-down) or make its BMC answer' % host
    else:
        ask = 'no rung of its ladder (%s) can prove %s powered off: an ' \
            'operator must make its BMC answer' % (
                fence_ladder.describe(ladder), host)
    s.move(incident, states.PARKED, '%s; nothing is evacuated without '
           'proof of power-off: %s' % (why, ask))
    if alert:
        s.note(incident, 'not evacuating %s: %s' % (host, ask), kind='alert',
               outcome='parked')


def _service_dict(service):
    if service is None:
        return None
    return {'status': 'disabled' if service.disabled else 'enabled',
            'disabled_reason': service.disabled_reason}


def _held(s, incident):
    back = _host_back(s, incident)
    if back:
        if incident.fact('proof'):
            _proof_void(s, incident, back)
        s.move(incident, states.CANCELLED, back)
        return
    alive = _alive_evidence(s, incident) if incident.fact('proof') else None
    if alive:
        # Isolated rather than back: the proof goes, the channels decide.
        _proof_void(s, incident, alive)
        s.move(incident, states.DETECTED, 'its proof of power-off is '
               'void: %s; confirming again' % alive, proof=None,
               watchdog=None)
        return
    until = incident.fact('until')
    if until is not None and s.now < until:
        return
    _judge_guards(s, incident)


def _proof_void(s, incident, evidence):
    """An attestation or a watchdog proof contradicted by signs of life:
    never acted on, and an operator is told."""
    proof = incident.fact('proof') or {}
    who = 'operator %s attested' % proof.get('who') \
        if proof.get('rung') == 'operator' else \
        'its %s rung proved' % proof.get('rung')
    s.note(incident, '%s %s powered off, but %s: the proof is void and '
           'nothing is evacuated on it' % (who, incident.host, evidence),
           kind='alert', outcome='proof_void')


def _fencing(s, incident):
    attempt = incident.fact('fence_attempt', 1)
    next_at = incident.fact('next_fence_at')
    if next_at is not None and s.now < next_at:
        return
    action = model.Fence(
        incident=incident.key, token=incident.token, host=incident.host,
        attempt=attempt,
        unless_alive=incident.fact('policy') != COMPUTE_DEAD)
    result = s.fence_results.pop(action.id, None)
    if result is None:
        if attempt > 1 and action.id not in s.issued and \
                action.id not in s.obs.inflight:
            why = _retry_void(s, incident, action)
            if why:
                s.move(incident, states.CANCELLED, 'fence attempt %d not '
                       'made: %s' % (attempt, why), next_fence_at=None)
                return
        s.issue(action)
        return
    value = result.value if result.ok else None
    outcome = getattr(value, 'outcome', None)
    outcome = getattr(outcome, 'value', outcome)
    detail = getattr(value, 'detail', result.error)
    s.note(incident, 'fencing %s (attempt %d): %s: %s' % (
        incident.host, attempt, outcome or 'failed', detail), kind='fence',
        outcome=outcome or 'failed',
        detail=value.to_dict() if hasattr(value, 'to_dict') else None)
    if outcome in ('fenced', 'already_off'):
        s.move(incident, states.FENCED, 'the BMC confirmed %s off' %
               incident.host, proof={'rung': 'bmc', 'outcome': outcome,
                                     'at': s.now},
               next_fence_at=None)
    elif outcome == 'not_fenced':
        s.move(incident, states.FENCED, 'evacuating %s WITHOUT fencing: the'
               ' noop fence driver is configured for it' % incident.host,
               proof={'rung': 'none', 'outcome': outcome},
               next_fence_at=None)
    elif attempt < s.settings.fence_attempts:
        s.remember(incident, fence_attempt=attempt + 1,
                   next_fence_at=s.now + s.settings.fence_retry_delay)
    else:
        incident = _spend(s, incident, fence_ladder.BMC)
        s.move(incident, states.PARKED, 'fencing failed %d times: not '
               'evacuating %s' % (attempt, incident.host),
               next_fence_at=None)
        s.note(incident, 'not evacuating %s: fencing failed %d times, '
               'last: %s' % (incident.host, attempt, detail), kind='alert',
               outcome='fence_failed')


def _retry_void(s, incident, action):
    """Why a retry of the fence must not be made, or None.  A retry is a
    new act, judged again: a host that came back after a failed attempt
    is heard by its peers (which the executor's last-moment check does not
    read); a nova-compute its monitor reports back ends the escalation of
    a dead one."""
    if action.unless_alive:
        return _alive_evidence(s, incident)
    if incident.host not in process_failure.down_since(s.all_incidents):
        return 'its monitor reports nova-compute back'
    return None


def _fenced(s, incident):
    host = incident.host
    service = (s.obs.services or {}).get(host)
    if service is None:
        return
    if not _forced_down(incident, service):
        s.issue(model.ForceDown(incident=incident.key, token=incident.token,
                                host=host, service_id=service.id))
    # The host is off: its servers cannot change any more, so the plan
    # does not wait for Nova to take the force-down (evacuations do).
    servers = s.obs.servers.get(host)
    if servers is None or s.obs.aggregates is None:
        return           # read on the next look
    view = ha_aggregates.host_view_of(s.obs.aggregates, host)
    evacuate_all = bool(view.segment and view.segment.evacuate_all)
    plans = decisions.choose_vms(
        [{'id': v.id, 'name': v.name, 'status': v.status,
          'metadata': v.metadata} for v in servers],
        evacuate_all=evacuate_all)
    for p in plans:
        if p.problems:
            s.note(incident, 'server %s has bad HA metadata: %s' % (
                p.id, '; '.join(p.problems)), kind='alert', instance=p.id)
    tasks = {v.id: v.task_state for v in servers}
    plan = [{'id': p.id, 'name': p.name, 'priority': p.priority,
             'status': p.status, 'task_state': tasks.get(p.id)}
            for p in plans]
    s.note(incident, 'plan for %s: %d HA VMs to evacuate (priority order: '
           '%s), %d non-HA VMs left alone' % (
               host, len(plan), ', '.join('%s(%d)' % (
                   p['name'] or p['id'], p['priority']) for p in plan)
               or 'none', len(servers) - len(plan)))
    s.move(incident, states.EVACUATING, '%d VMs to move' % len(plan),
           plan=plan, moved={}, started=s.now,
           fenced_at=incident.fact('fenced_at', incident.since))


def _forced_down(incident, service):
    """Nova has taken the force-down: its answer, or what it shows."""
    return bool(incident.fact('forced_down') or
                (service is not None and service.forced_down))


def _evacuating(s, incident):
    host = incident.host
    plan = incident.fact('plan') or []
    done = dict(incident.fact('moved') or {})
    started = incident.fact('started', incident.since)
    scheduling = 0
    # A VM with an action of ours under way is judged once it answers:
    # Nova sets an evacuation's task state before it writes its
    # migration, so a look in between would see a "stale" task.
    in_hand = {action_id.split(':')[1] for action_id in
               s.issued | set(s.obs.inflight)
               if action_id.split(':')[0] in _VM_ACTIONS}
    alive = _alive_after_proof(s, incident)
    dead = {h: at + CLOCK_MARGIN for h, at in _proven_off(s).items()}
    for vm in plan:
        vm_id = vm['id']
        if vm_id in done:
            continue
        if vm_id in in_hand:
            moving = moves.in_flight(s.obs.migrations.get(vm_id))
            scheduling += 1 if moving is None or \
                moving.status == 'accepted' else 0
            continue
        server = s.obs.vms.get(vm_id)
        migrations = s.obs.migrations.get(vm_id)
        since = incident.opened_at - CLOCK_MARGIN
        verdict = moves.judge(server, migrations, host, since, dead)
        label = vm['name'] or vm_id
        if verdict == 'gone':
            done[vm_id] = {'outcome': 'gone'}
            s.note(incident, '%s was deleted: nothing to move' % label,
                   kind='evacuate', instance=vm_id, outcome='gone')
        elif verdict == 'moved':
            want = _wanted_status(vm['status'])
            if server.status != want and want is not None:
                s.issue(model.SetPower(incident=incident.key,
                                       token=incident.token, vm=vm_id,
                                       want=want))
                continue
            done[vm_id] = {'outcome': 'done', 'target': server.host,
                           'status': server.status}
            s.note(incident, '%s moved %s -> %s, now %s' % (
                label, host, server.host, server.status), kind='evacuate',
                instance=vm_id, outcome='done')
        elif verdict in ('in_flight', 'foreign', 'unknown'):
            moving = moves.in_flight(migrations)
            if moving is not None and moving.status == 'accepted':
                scheduling += 1
            if s.now - started > s.settings.evacuation_timeout:
                done[vm_id] = _failed(s, incident, vm, 'no result after %.0f'
                                      ' s (%s)' % (
                                          s.settings.evacuation_timeout,
                                          verdict))
            elif s.now - started > SLOW_MOVE and \
                    not incident.fact('slow_' + vm_id):
                incident = s.remember(incident, **{'slow_' + vm_id: True})
                s.note(incident, '%s: no result from Nova after %.0f s (%s%s);'
                       ' followed until evacuation_timeout (%.0f s)' % (
                           label, s.now - started, verdict,
                           ', %s to %s' % (moving.status, moving.dest)
                           if moving is not None else '',
                           s.settings.evacuation_timeout), kind='alert',
                       instance=vm_id, outcome='slow')
            elif verdict == 'foreign' and not incident.fact(
                    'foreign_' + vm_id):
                incident = s.remember(incident, **{'foreign_' + vm_id: True})
                s.note(incident, '%s: Nova shows a %s of it in flight (%s): '
                       'followed, never reset or evacuated behind it' % (
                           label, moving.type, moving.status),
                       kind='alert', instance=vm_id)
        elif verdict == 'stranded':
            moving = moves.in_flight(migrations)
            done[vm_id] = _failed(s, incident, vm, 'its rebuild on %s cannot '
                                  'finish while %s is off, and may finish '
                                  'there if it comes back: not retried '
                                  'elsewhere' % (moving.dest, moving.dest))
        elif verdict == 'failed_on':
            failed = moves.latest_try(migrations, host, since)
            done[vm_id] = _failed(s, incident, vm, 'it failed on %s, where '
                                  'its guest may have been spawned and still '
                                  'run: not retried elsewhere' % failed.dest)
            s.note(incident, 'evacuation of %s failed on %s after Nova chose '
                   'it: check %s for a guest of it before recovering it by '
                   'hand' % (label, failed.dest, failed.dest), kind='alert',
                   instance=vm_id, outcome='failed_on_destination')
        elif alive and verdict in ('stale_task', 'ready', 'failed_try'):
            continue     # nothing starts a copy of a VM of a live host
        elif verdict == 'stale_task':
            s.issue(model.ResetStaleTask(
                incident=incident.key, token=incident.token, vm=vm_id,
                source=host, task_state=server.task_state,
                to_state='error' if server.status == 'ERROR' else 'active'))
        elif verdict in ('ready', 'failed_try'):
            if not _forced_down(incident, s.obs.services.get(host)):
                # Nova refuses to evacuate from a host it believes up.
                s.issue(model.ForceDown(
                    incident=incident.key, token=incident.token, host=host,
                    service_id=s.obs.services[host].id))
                continue
            tried = moves.tries(migrations, host, since)
            if tried >= s.settings.evacuate_attempts:
                done[vm_id] = _failed(s, incident, vm, 'Nova could not '
                                      'evacuate it (%d tries)' % tried)
                continue
            if scheduling >= s.settings.max_concurrent_evacuations:
                continue
            if s.issue(model.Evacuate(
                    incident=incident.key, token=incident.token, vm=vm_id,
                    keep_running=server.status == 'ACTIVE',
                    attempt=tried + 1, source=host)):
                # Recorded before it is sent (the history is written
                # ahead of every side effect): an owner that dies right
                # after still leaves the request in the history.
                s.note(incident, 'asking Nova to evacuate %s (try %d)' % (
                    label, tried + 1), kind='evacuate', instance=vm_id,
                    outcome='requested')
                scheduling += 1
    if alive and incident.fact('alive_alerted') and not scheduling and \
            not any(vm['id'] in in_hand or moves.in_flight(
                s.obs.migrations.get(vm['id'])) is not None
                for vm in plan if vm['id'] not in done):
        # The host lives on after its proof (powered on again, or the
        # proof was wrong): the VMs left run there.  The incident ends; a
        # new failure of the host is a new incident, with a new proof.
        for vm in plan:
            if vm['id'] not in done:
                done[vm['id']] = {'outcome': 'failed', 'error': 'left on %s,'
                                  ' which lives: %s' % (host, alive)}
    if done != (incident.fact('moved') or {}):
        incident = s.remember(incident, moved=done)
    if len(done) < len(plan):
        return
    _close(s, incident, done)


_VM_ACTIONS = ('Evacuate', 'ResetStaleTask', 'SetPower')
# A move without a result this long is alerted (it is still followed).
SLOW_MOVE = 120.0
# A host fenced through its BMC still looks alive this long (its last
# heartbeat and views expire): waited for quietly, then alerted.
ALIVE_AFTER_PROOF = 10.0


def _alive_after_proof(s, incident):
    """Signs of life of a host whose proof says it is off (someone
    powered it on, or the proof was wrong): no VM of it is evacuated
    while they last, and an operator is told once."""
    alive = _host_back(s, incident) or _alive_evidence(s, incident)
    if not alive:
        return None
    fenced_at = incident.fact('fenced_at', incident.since)
    if s.now - fenced_at >= ALIVE_AFTER_PROOF and \
            not incident.fact('alive_alerted'):
        incident = s.remember(incident, alive_alerted=True)
        _proof_void(s, incident, alive)
    return alive


def _failed(s, incident, vm, why):
    label = vm['name'] or vm['id']
    s.note(incident, 'evacuation of %s failed: %s' % (label, why),
           kind='evacuate', instance=vm['id'], outcome='failed')
    # And an alert now, not when the incident ends: other moves may keep
    # it open for long, and the VM needs a person.
    s.note(incident, '%s was not recovered: a person must look' % label,
           kind='alert', instance=vm['id'], outcome='not_recovered')
    return {'outcome': 'failed', 'error': why}


def _wanted_status(before):
    if before in ('ACTIVE', 'SHUTOFF', 'ERROR'):
        return before
    return None


def _close(s, incident, done):
    host = incident.host
    service = (s.obs.services or {}).get(host)
    if service is None:
        return
    # Disabled by an operator: left so.  Disabled for a dead nova-compute:
    # disabled again with this incident's reason, so that the process
    # incident, when nova-compute comes back, does not enable a host that
    # was fenced.
    kept = service.disabled and \
        service.disabled_reason not in process_failure.REASONS
    if not (kept or incident.fact('disabled')):
        s.issue(model.Disable(incident=incident.key, token=incident.token,
                              host=host, reason=s.settings.disabled_reason))
        return
    targets = sorted({d['target'] for d in done.values() if d.get('target')})
    released = set(incident.fact('released') or ())
    pending = False
    for target in targets:
        for aggregate in _reserved_aggregates(s, target):
            if '%s:%s' % (target, aggregate) in released:
                continue
            pending = True
            s.issue(model.ReleaseReserved(
                incident=incident.key, token=incident.token, host=target,
                aggregate=aggregate))
    if pending:
        return
    failed = sorted(vm for vm, d in done.items() if d['outcome'] == 'failed')
    moved = sum(1 for d in done.values() if d['outcome'] == 'done')
    s.move(incident, states.PARTIAL if failed else states.RECOVERED,
           '%d VMs moved, %d failed%s; %s stays disabled until an operator '
           'brings it back' % (moved, len(failed), (' (%s)' % ', '.join(
               failed)) if failed else '', host))


def _parked(s, incident):
    back = _host_back(s, incident)
    if back:
        s.move(incident, states.CANCELLED, back)
        return
    if incident.fact('proof'):
        return
    # The ladder's next rung (a parked incident does not try its BMC
    # again: an operator's retry does).
    _, ladder = _segment_peers(s, incident.host)
    rung = fence_ladder.current(ladder, incident.fact('spent') or (),
                                passed=(fence_ladder.BMC,))
    if rung == fence_ladder.WATCHDOG and \
            _watchdog_rung(s, incident) is False:
        _spend(s, incident, rung)


_HANDLERS = _handlers()
