"""The process-failure incident: nova-compute or libvirtd dead on a live host.

==========  ======  ===========================================================
state       open?   meaning
==========  ======  ===========================================================
reported    open    the host's monitor gave up restarting the process; while
                    nova-compute is dead, waiting for Nova to see it down
disabled    open    the compute service is disabled by nova-ha, so nothing new
                    lands on a host whose VMs nobody manages; waiting for the
                    process to come back
observed    open    the service was already disabled by someone else: left as
                    it is; waiting for the process to come back
done        closed  the process is back (the service enabled again when
                    nova-ha disabled it and no other process is still down)
failed      closed  Nova has no compute service for that host
closed      closed  an operator closed it
==========  ======  ===========================================================

The VMs keep running: the host is alive, so nothing is fenced or evacuated
(unless ``compute_dead_fence_after`` escalates a silent nova-compute, which
is the host-failure incident's).  Nova calls a compute over RPC when it is
disabled while Nova still believes it up, which hangs until the RPC timeout
when the compute is dead; so a dead nova-compute's service is disabled only
once Nova itself shows it down (it is never forced down: that would allow
evacuating VMs that still run).  The process is back when its monitor says
so, or, for nova-compute, when it reports to Nova again.
"""

from nova_ha.engine import model
from nova_ha.engine import states

KIND = 'process_failure'

REPORTED = 'reported'
DISABLED = 'disabled'
OBSERVED = 'observed'
DONE = 'done'
FAILED = 'failed'

TABLE = states.declare(
    KIND, REPORTED, (REPORTED, DISABLED, OBSERVED), (DONE, FAILED), {
        REPORTED: {DISABLED, OBSERVED, DONE, FAILED},
        DISABLED: {DONE},
        OBSERVED: {DONE},
    })

DISABLED_REASON = 'nova-ha: nova-compute or libvirtd down on a live host'
# What the service's reason says when nova-ha disabled it for a process
# (the first is an earlier engine's wording, still recognised).
REASONS = frozenset(('nova-ha: nova-compute down on a live host',
                     DISABLED_REASON))
NOVA_COMPUTE = 'nova-compute'
PROCESS_DOWN = 'process_down'
PROCESS_UP = 'process_up'


def subject(host, process):
    return '%s:%s' % (host, process)


def process_of(incident):
    """The process of an incident (held or stored)."""
    return (incident.facts or {}).get('process')


# -- opening -------------------------------------------------------------------

def open_incidents(s):
    """process.down opens the process's incident; process.up tells it
    (through the history when another replica owns it)."""
    current, latest = states.by_subject(s.all_incidents, KIND)
    for report in s.events:
        if report.kind not in (PROCESS_DOWN, PROCESS_UP):
            continue
        name = subject(report.host, report.subject)
        mine = [i for i in s.incidents.values() if i.kind == KIND and
                states.subject_of(i.key) == name]
        if report.kind == PROCESS_UP:
            if mine:
                s.remember(mine[0], back_at=report.at)
            elif name in current:
                s.issue(model.Relay(incident=current[name].key,
                                    request=PROCESS_UP, report=report))
            continue
        if mine or name in current:
            s.note(None, '%s on %s: already handled (%s)' % (
                report.subject, report.host, current[name].key
                if name in current else mine[0].key),
                kind='event.duplicate', host=report.host)
            continue
        seq, _ = latest.get(name, (0, None))
        s.issue(model.OpenIncident(
            kind=KIND, host=report.host, subject=name, sequence=seq + 1,
            reason='%s dead on a live host (%s)' % (report.subject,
                                                    report.cause or
                                                    'reported'),
            facts=(('process', report.subject),), report=report))


def on_request(s, incident, request, details):
    if request == PROCESS_UP:
        return s.remember(incident, back_at=s.now)
    return incident


def down_since(incidents):
    """host -> since when nova-compute is known dead on it (open
    incidents of this kind), for the host-failure incident's escalation."""
    found = {}
    for stored in incidents or ():
        if stored.kind == KIND and not stored.closed and \
                stored.facts.get('process') == NOVA_COMPUTE:
            found[stored.host] = min(found.get(stored.host, stored.opened_at),
                                     stored.opened_at)
    return found


# -- the states ------------------------------------------------------------------

def _back(s, incident, service):
    """Why the process counts as back (None: not yet)."""
    if incident.fact('back_at') is not None:
        return 'its monitor reports it back'
    if process_of(incident) == NOVA_COMPUTE and service is not None and \
            service.up and incident.state != REPORTED and \
            s.reported_after(service, incident.since):
        return 'it reports to Nova again'
    return None


def _reported(s, incident):
    host = incident.host
    if s.obs.services is None:
        return                  # Nova did not answer: next time
    service = s.obs.services.get(host)
    process = process_of(incident)
    if service is None:
        s.note(incident, 'no nova-compute service is registered for %s'
               % host, kind='alert')
        s.move(incident, FAILED, 'no compute service for %s in Nova' % host)
        return
    back = _back(s, incident, service)
    if back:
        s.move(incident, DONE, '%s on %s is back (%s) before anything was '
               'done' % (process, host, back))
        return
    if incident.fact('disabled'):
        s.move(incident, DISABLED, '%s on %s is down on a live host: service '
               'disabled so nothing new lands there' % (process, host))
        return
    if service.disabled:
        if service.disabled_reason in REASONS:
            s.move(incident, DISABLED, '%s on %s is down; the service is '
                   'already disabled by nova-ha' % (process, host))
        else:
            s.move(incident, OBSERVED, '%s on %s is down; the service is '
                   'already disabled (%s): leaving it' % (
                       process, host, service.disabled_reason))
        return
    compute_dead = process == NOVA_COMPUTE or any(
        process_of(i) == NOVA_COMPUTE for i in _open_of(s, host))
    if compute_dead and service.up:
        wait = s.settings.nova_down_wait
        if s.now - incident.opened_at >= wait and \
                not incident.fact('alerted'):
            s.note(incident, 'Nova still shows nova-compute on %s up %.0f s '
                   'after its monitor reported it dead: not disabled yet '
                   '(Nova would hang calling it)' % (host, wait),
                   kind='alert')
            s.remember(incident, alerted=True)
        return
    s.issue(model.Disable(incident=incident.key, token=incident.token,
                          host=host, reason=DISABLED_REASON))


def _waiting(s, incident):
    host = incident.host
    if s.obs.services is None:
        return                  # Nova did not answer: next time
    service = s.obs.services.get(host)
    back = _back(s, incident, service)
    if not back:
        return
    process = process_of(incident)
    others = sorted(
        process_of(i) or '?' for i in _open_of(s, host)
        if i.key != incident.key)
    ours = service is not None and service.disabled and \
        service.disabled_reason in REASONS
    if ours and others:
        s.move(incident, DONE, '%s on %s is back (%s); the service stays '
               'disabled while %s is down' % (process, host, back,
                                                ', '.join(others)))
        return
    if ours and _host_incident_open(s, host):
        s.move(incident, DONE, '%s on %s is back (%s); the host\'s failure '
               'incident has the service' % (process, host, back))
        return
    if ours:
        if not incident.fact('enabled'):
            s.issue(model.Enable(incident=incident.key, token=incident.token,
                                 host=host))
            return
    if incident.fact('enabled'):
        s.note(incident, '%s on %s is back: service enabled again' % (
            process, host), kind='service', outcome='enabled')
        s.move(incident, DONE, '%s on %s is back (%s)' % (process, host,
                                                           back))
        return
    s.move(incident, DONE, '%s on %s is back (%s); the service was not '
           'disabled by nova-ha: left as is' % (process, host, back))


def _open_of(s, host):
    return [stored for stored in s.all_incidents or ()
            if stored.kind == KIND and not stored.closed and
            stored.host == host]


def _host_incident_open(s, host):
    return any(stored.kind == states.KIND and not stored.closed and
               stored.host == host for stored in s.all_incidents or ())


HANDLERS = {
    REPORTED: _reported,
    DISABLED: _waiting,
    OBSERVED: _waiting,
}
