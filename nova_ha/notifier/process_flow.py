"""The process-failure flow: nova-compute dead on a live host.

The monitor on the host restarts nova-compute itself; when it gives up it
reports process.down and the engine disables the compute service, so nothing
new is scheduled onto a host whose VMs nobody manages.  The VMs keep
running: the host is alive, so nothing is fenced or evacuated.  When the
monitor reports process.up, the engine re-enables the service, but only if
the engine was the one that disabled it.

Nova calls a compute over RPC when it is disabled while Nova still believes
it up, which hangs until the RPC timeout when the compute is dead; the flow
therefore waits, with a deadline, until Nova itself reports the service
down before disabling it.  (It never forces the service down: that would
allow evacuating VMs that are still running.)
"""

DISABLED_REASON = 'nova-ha: nova-compute down on a live host'


KIND = 'process_failure'


def _open_incidents(env, host, process=None):
    """Open process incidents of ``host`` (of ``process`` if given): each
    process (nova-compute, libvirtd) has its own."""
    return [i for i in env.history.list_incidents(open_only=True, host=host,
                                                  kind=KIND)
            if process is None or (i.detail or {}).get('process') == process]


def on_process_down(env, settings, event, nova_down_wait):
    host = event.host
    with env.lock('process-' + host, timeout=settings.lock_timeout):
        if _open_incidents(env, host, event.process):
            env.record('event.duplicate', '%s on %s: already handled' % (
                event.process, host), host=host)
            return 'duplicate'
        incident, created = env.history.open_incident(
            '%s:%s:%s:%s' % (KIND, host, event.process, event.at.isoformat()),
            KIND, host=host, detail={'process': event.process})
        if not created:
            return 'duplicate'
        return _disable(env, settings, host, incident, nova_down_wait)


def _disable(env, settings, host, incident, nova_down_wait):
    service = env.nova.service(host)
    if service is None:
        env.record('alert', 'no nova-compute service is registered for %s'
                   % host, host=host, incident=incident.key)
        env.history.update_incident(incident.key, state='failed')
        return 'unknown_host'
    if service['status'] == 'disabled':
        env.record('decision', 'nova-compute on %s is down; the service is '
                   'already disabled (%s): leaving it' % (
                       host, service['disabled_reason']), host=host,
                   incident=incident.key)
        env.history.update_incident(incident.key, state='observed',
                                    detail=dict(incident.detail or {},
                                                we_disabled=False))
        return 'already_disabled'
    env.wait_for(lambda: env.nova.service(host)['state'] == 'down',
                 nova_down_wait, settings.poll_interval,
                 'Nova to see nova-compute on %s down' % host)
    env.nova.disable(host, DISABLED_REASON)
    env.record('service', 'nova-compute on %s is down on a live host: '
               'service disabled so nothing new lands there' % host,
               host=host, incident=incident.key, outcome='disabled')
    env.history.update_incident(incident.key, state='disabled',
                                detail=dict(incident.detail or {},
                                            we_disabled=True))
    return 'disabled'


def on_process_up(env, event):
    host = event.host
    open_incidents = _open_incidents(env, host, event.process)
    if not open_incidents:
        return 'nothing_to_do'
    incident = open_incidents[-1]
    # Another process of the host still down keeps the host disabled
    # (libvirtd back does not make a dead nova-compute manage VMs).
    others = [i for i in _open_incidents(env, host) if i.key != incident.key]
    service = env.nova.service(host)
    we_disabled = (incident.detail or {}).get('we_disabled') and \
        service and service['disabled_reason'] == DISABLED_REASON
    if we_disabled and others:
        env.record('decision', '%s on %s is back; the service stays '
                   'disabled while %s is down' % (
                       event.process, host, ', '.join(sorted(
                           (i.detail or {}).get('process') or '?'
                           for i in others))),
                   host=host, incident=incident.key)
        # The remaining incident now owns the re-enabling.
        env.history.update_incident(others[-1].key, state=others[-1].state,
                                    detail=dict(others[-1].detail or {},
                                                we_disabled=True))
        env.history.update_incident(incident.key, state='done')
        return 'left'
    if we_disabled:
        env.nova.enable(host)
        env.record('service', 'nova-compute on %s is back: service enabled '
                   'again' % host, host=host, incident=incident.key,
                   outcome='enabled')
    else:
        env.record('decision', 'nova-compute on %s is back; the service was '
                   'not disabled by nova-ha, leaving it as is' % host,
                   host=host, incident=incident.key)
    env.history.update_incident(incident.key, state='done')
    return 'enabled' if we_disabled else 'left'
