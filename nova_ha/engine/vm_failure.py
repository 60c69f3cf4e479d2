"""The VM-failure incident: a crashed HA VM brought back, step by step.

===========  ======  ==========================================================
state        open?   meaning
===========  ======  ==========================================================
reported     open    a monitor reported the VM failed (crash, watchdog, panic,
                     I/O error); decided on this look from Nova's record
backing_off  open    an earlier restart did not hold: waiting (longer each
                     time) before the next, so that an owner's or Nova's own
                     start is seen first
restarting   open    a start or a hard reboot asked of Nova; waiting for it to
                     be ACTIVE
migrating    open    restarts on its host did not hold: a cold migration to
                     another host of its segment, confirmed and started
recovered    closed  running again (restarted or moved)
skipped      closed  nothing to do: not HA, stopped by its owner, its host in
                     maintenance or failed (the host's incident has it), moved
                     or deleted meanwhile, Nova busy with it
escalated    closed  the restart budget is spent, or Nova refused or failed:
                     alerted, a person must look
closed       closed  an operator closed it
===========  ======  ==========================================================

The ladder itself (start, hard reboots, a move, a person) is
``decisions.vm_restart_decision``.  Tries are counted over
``vm_restart_window``: each incident carries the times of the VM's tries
and a new one takes over those of the VM's previous incident, so the budget
is shared by every replica and survives restarts.  A report that the VM
failed again while its incident is open reaches the owner (relayed through
the history when another replica received it): the restart did not hold.
"""

from nova_ha.engine import decisions
from nova_ha.engine import model
from nova_ha.engine import states
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers

KIND = 'vm_failure'

REPORTED = 'reported'
BACKING_OFF = 'backing_off'
RESTARTING = 'restarting'
MIGRATING = 'migrating'
RECOVERED = 'recovered'
SKIPPED = 'skipped'
ESCALATED = 'escalated'

TABLE = states.declare(
    KIND, REPORTED, (REPORTED, BACKING_OFF, RESTARTING, MIGRATING),
    (RECOVERED, SKIPPED, ESCALATED), {
        REPORTED: {BACKING_OFF, RESTARTING, MIGRATING, SKIPPED, ESCALATED},
        BACKING_OFF: {RESTARTING, SKIPPED, ESCALATED},
        RESTARTING: {RECOVERED, REPORTED, SKIPPED, ESCALATED},
        MIGRATING: {RECOVERED, REPORTED, SKIPPED, ESCALATED},
    })

# A request (relayed report) the owner reads with the incident.
FAILED_AGAIN = 'failed_again'


# -- opening -------------------------------------------------------------------

def open_incidents(s):
    """A report of a failed VM opens its incident, or tells the open one
    (its owner, through the history, when that is another replica)."""
    current, latest = states.by_subject(s.all_incidents, KIND)
    for report in s.events:
        if report.kind != KIND:
            continue
        vm = report.subject
        mine = [i for i in s.incidents.values()
                if i.kind == KIND and i.fact('vm') == vm]
        if mine:
            s.remember(mine[0], failed_again_at=report.at,
                       failed_again=report.cause)
            continue
        if vm in current:
            s.issue(model.Relay(incident=current[vm].key, request=FAILED_AGAIN,
                                report=report))
            continue
        seq, last = latest.get(vm, (0, None))
        tries = _tries(s, last.facts if last is not None else {})
        s.issue(model.OpenIncident(
            kind=KIND, host=report.host, subject=vm, sequence=seq + 1,
            reason='%s of %s reported on %s' % (report.cause or 'failure',
                                                 vm, report.host),
            facts=(('vm', vm), ('cause', report.cause or 'failure'),
                   ('tries', tuple(tries))), report=report))


def on_request(s, incident, request, details):
    """A relayed report: the VM failed again."""
    if request == FAILED_AGAIN:
        return s.remember(incident, failed_again_at=s.now,
                          failed_again=details.get('reason', ''))
    return incident


def _skip(s, incident, why):
    """Ends without acting; the VM's record says so (the availability
    report counts no outage for a failure nova-ha does not own)."""
    s.note(incident, why, kind='restart', instance=incident.fact('vm'),
           outcome='skipped')
    s.move(incident, SKIPPED, why)


def _tries(s, facts):
    window = s.settings.vm_restart_window
    return [t for t in facts.get('tries') or () if s.now - t < window]


# -- the states ------------------------------------------------------------------

def _label(incident, server=None):
    name = server.name if server is not None and server.name else None
    return '%s (%s)' % (name, incident.fact('vm')) if name \
        else incident.fact('vm')


# What _step_aside answers while the VM's host has an incident of its own.
WAIT = 'wait'


def _step_aside(s, incident, server):
    """WAIT while a host-failure incident of the VM's host runs (it
    evacuates the VM; this incident then goes on wherever the VM is), why
    this incident stops without acting, or None (it goes on)."""
    if server.status in decisions.GONE:
        return '%s was deleted' % incident.fact('vm')
    for stored in s.all_incidents or ():
        if stored.kind == states.KIND and not stored.closed and \
                stored.host in (incident.host, server.host):
            return WAIT
    where = incident.fact('on') or incident.host
    if incident.state != MIGRATING and server.host != where and \
            server.status == decisions.ACTIVE and not server.task_state:
        return 'it runs on %s now' % server.host
    return None


def _reported(s, incident):
    vm = incident.fact('vm')
    server = s.obs.failed_vms.get(vm)
    stopped = s.obs.stopped_by_user.get(vm)
    if server is None or stopped is None or s.obs.aggregates is None:
        return                # Nova did not answer: judged next time
    aside = _step_aside(s, incident, server)
    label = _label(incident, server)
    cause = incident.fact('cause')
    if aside == WAIT:
        return
    if aside:
        _skip(s, incident, '%s failed (%s): %s' % (label, cause,
                                                          aside))
        return
    # Where it is now (evacuated by its host's incident, it failed there
    # too: stopped, as it was when its host died).
    view = ha_aggregates.host_view_of(s.obs.aggregates, server.host)
    policy = ha_servers.server_policy(
        server.metadata,
        evacuate_all=bool(view.segment and view.segment.evacuate_all))
    if not policy.enabled:
        _skip(s, incident, '%s failed (%s) but is not HA: left as is'
               % (label, cause))
        return
    if view.maintenance:
        _skip(s, incident, '%s failed on %s, which is in '
               'maintenance: left as is' % (label, server.host))
        return
    if _compute_dead(s, incident, server.host):
        return
    incident = s.remember(incident, on=server.host)
    tries = _tries(s, incident.facts)
    settings = s.settings
    can_migrate = settings.vm_migrate_when_restarts_fail and \
        view.segment is not None
    decision = decisions.vm_restart_decision(
        server.status, server.task_state, len(tries),
        settings.vm_restart_max_attempts, user_stopped=stopped,
        can_migrate=can_migrate)
    if decision.action is None and server.task_state and \
            not decision.escalate and not stopped:
        # Nova is busy with it (a move, a reboot of its own): its outcome
        # decides; waited for, not forgotten.
        if s.now - incident.opened_at < settings.vm_restart_timeout:
            return
        s.note(incident, '%s failed (%s) and Nova has been busy with it '
               '(task_state %s) for %.0f s: a person must look' % (
                   label, cause, server.task_state,
                   settings.vm_restart_timeout), kind='alert', instance=vm,
               outcome='escalated')
        s.move(incident, ESCALATED, 'Nova stays busy with it')
        return
    if decision.action is None:
        if decision.escalate:
            s.note(incident, '%s failed (%s): %s' % (label, cause,
                                                     decision.reason),
                   kind='alert', instance=vm, outcome='escalated')
            s.move(incident, ESCALATED, decision.reason)
        else:
            _skip(s, incident, '%s failed (%s): %s' % (
                label, cause, decision.reason))
        return
    budget = settings.vm_restart_max_attempts + (1 if can_migrate else 0)
    why = '%s failed (%s): %s, attempt %d of %d' % (
        label, cause, decision.action, len(tries) + 1, budget)
    if decision.action == 'migrate':
        s.issue(model.MigrateVM(incident=incident.key, token=incident.token,
                                vm=vm))
        s.move(incident, MIGRATING, why, tries=tries + [s.now],
               source=server.host, failed_again_at=None)
        return
    first, longest = settings.vm_restart_backoff
    if tries and longest > 0:
        # A restart that did not hold: wait before the next, longer each
        # time, so a guest that crashes at boot is not restarted in a
        # tight loop (and an owner's or Nova's own start is seen first).
        delay = min(longest, first * 2 ** (len(tries) - 1))
        s.move(incident, BACKING_OFF, '%s; waiting %.0f s first' % (
            why, delay), until=s.now + delay, how=decision.action,
            seen_down=None)
        return
    _restart(s, incident, decision.action, why, tries, server.host)


def _compute_dead(s, incident, host):
    """The nova-compute of the VM's ``host`` is dead (Nova sees it down,
    or its monitor reported it): nothing can be asked of it.  Alerted
    once; the incident waits for it (or for the host's own incident)."""
    service = (s.obs.services or {}).get(host)
    dead = service is not None and not service.up or any(
        stored.kind == 'process_failure' and not stored.closed and
        stored.host == host and
        stored.facts.get('process') == 'nova-compute'
        for stored in s.all_incidents or ())
    if dead and not incident.fact('compute_alerted'):
        s.note(incident, '%s cannot be restarted: nova-compute on %s is '
               'dead; it waits for it (or for the host\'s own recovery)'
               % (_label(incident), host), kind='alert',
               instance=incident.fact('vm'), outcome='waiting')
        s.remember(incident, compute_alerted=True)
    return dead


def _restart(s, incident, how, why, tries, on):
    attempt = len(tries) + 1
    s.issue(model.RestartVM(incident=incident.key, token=incident.token,
                            vm=incident.fact('vm'), how=how,
                            attempt=attempt))
    s.move(incident, RESTARTING, why, tries=tries + [s.now], how=how,
           attempt=attempt, until=None, failed_again_at=None, on=on)


def _server_to_act_on(s, incident):
    """The VM's server, or None when there is nothing to do on this look
    (Nova did not answer, its host's incident has it) or the incident
    ended (deleted, running elsewhere)."""
    server = s.obs.failed_vms.get(incident.fact('vm'))
    if server is None:
        return None
    aside = _step_aside(s, incident, server)
    if aside == WAIT:
        return None
    if aside:
        _skip(s, incident, aside)
        return None
    return server


def _backing_off(s, incident):
    server = _server_to_act_on(s, incident)
    if server is None:
        return
    if server.status != decisions.ACTIVE:
        incident = s.remember(incident, seen_down=True)
    elif incident.fact('seen_down') and not server.task_state:
        # Nova showed it down after the failure and now ACTIVE: its owner
        # or Nova started it.  (ACTIVE alone may be Nova not having synced
        # the dead guest yet.)
        _skip(s, incident, '%s is ACTIVE again during the back-off: '
               'nothing to do' % _label(incident, server))
        return
    if s.now >= incident.fact('until') and \
            not _compute_dead(s, incident, server.host):
        tries = _tries(s, incident.facts)
        _restart(s, incident, incident.fact('how'), 'back-off over: %s, '
                 'attempt %d' % (incident.fact('how'), len(tries) + 1),
                 tries, server.host)


def _asked(s, incident, action):
    """None while ``action`` is unanswered; else the error it met (''
    when Nova took it)."""
    if action.id in s.issued or action.id in s.obs.inflight:
        return None
    return s.failed_requests.get(action.id, '')


def _refused(error):
    """Nova refused for good (409: it is already acting on the VM, whose
    outcome is awaited like ours)."""
    return bool(error) and '409' not in error


def _restarting(s, incident):
    vm = incident.fact('vm')
    server = _server_to_act_on(s, incident)
    if server is None:
        return
    label = _label(incident, server)
    error = _asked(s, incident, model.RestartVM(
        incident=incident.key, vm=vm, how=incident.fact('how'),
        attempt=incident.fact('attempt')))
    if error is None:
        return
    if _refused(error):
        s.note(incident, '%s could not be restarted: %s' % (label, error),
               kind='alert', instance=vm, outcome='escalated')
        s.move(incident, ESCALATED, 'Nova refused the %s: %s' % (
            incident.fact('how'), error))
        return
    if incident.fact('failed_again_at') is not None:
        s.move(incident, REPORTED, '%s failed again (%s) after its %s: the '
               'restart did not hold' % (label, incident.fact('failed_again')
                                         or 'reported', incident.fact('how')))
        return
    if server.status == decisions.ACTIVE and not server.task_state:
        s.note(incident, '%s restarted on %s after %s (%s, attempt %d)' % (
            label, server.host, incident.fact('cause'),
            incident.fact('how'), incident.fact('attempt')),
            kind='restart', instance=vm, outcome='restarted')
        s.move(incident, RECOVERED, '%s is ACTIVE' % label)
        return
    if not server.task_state and not error:
        s.move(incident, REPORTED, '%s is %s after its %s: the restart did '
               'not hold' % (label, server.status, incident.fact('how')))
        return
    _time_out(s, incident, label)


def _time_out(s, incident, label):
    limit = s.settings.vm_restart_timeout
    if s.now - incident.since >= limit:
        s.note(incident, '%s is not back %.0f s after nova-ha asked: a '
               'person must look' % (label, limit), kind='alert',
               instance=incident.fact('vm'), outcome='escalated')
        s.move(incident, ESCALATED, 'no outcome within %.0f s' % limit)


def _migrating(s, incident):
    vm = incident.fact('vm')
    server = _server_to_act_on(s, incident)
    if server is None:
        return
    label = _label(incident, server)
    source = incident.fact('source') or incident.host
    error = _asked(s, incident, model.MigrateVM(incident=incident.key,
                                                vm=vm))
    if error is None:
        return
    if _refused(error) or server.status == decisions.ERROR:
        why = error or 'Nova put it in ERROR'
        s.note(incident, '%s could not be migrated off %s (%s): escalating'
               % (label, source, why), kind='alert', instance=vm,
               outcome='escalated')
        s.move(incident, ESCALATED, 'the move failed: %s' % why)
        return
    if server.status == 'VERIFY_RESIZE':
        s.issue(model.ConfirmMove(incident=incident.key,
                                  token=incident.token, vm=vm))
        return
    if server.host == source and not server.task_state and \
            server.status != 'RESIZE':
        # Nova took the request (its task state is set before it answers)
        # and ended it where the VM was: no host of its segment took it.
        s.note(incident, '%s could not be migrated off %s (Nova left it '
               'there, %s): escalating' % (label, source,
                                           server.status), kind='alert',
               instance=vm, outcome='escalated')
        s.move(incident, ESCALATED, 'the move ended where it began')
        return
    confirmed = _asked(s, incident, model.ConfirmMove(incident=incident.key,
                                                      vm=vm))
    moved = server.host != source and not server.task_state
    if moved and confirmed is not None and server.status == \
            decisions.SHUTOFF:
        s.issue(model.RestartVM(incident=incident.key, token=incident.token,
                                vm=vm, how='start',
                                attempt=incident.fact('attempt') or 0))
        return
    if moved and incident.fact('failed_again_at') is not None:
        s.move(incident, REPORTED, '%s failed again (%s) on %s, where it was '
               'moved' % (label, incident.fact('failed_again') or 'reported',
                          server.host), on=server.host)
        return
    if moved and server.status == decisions.ACTIVE:
        s.note(incident, '%s moved from %s to %s after restarts on its host '
               'did not hold' % (label, source, server.host),
               kind='restart', instance=vm, outcome='migrated')
        s.move(incident, RECOVERED, '%s runs on %s' % (label, server.host))
        return
    _time_out(s, incident, label)


HANDLERS = {
    REPORTED: _reported,
    BACKING_OFF: _backing_off,
    RESTARTING: _restarting,
    MIGRATING: _migrating,
}
