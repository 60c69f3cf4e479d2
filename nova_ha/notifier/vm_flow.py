"""The VM-failure flow: bring a crashed VM back on its own host.

A monitor (libvirt crash, watchdog, I/O error, guest panic) or Nova's own
power-state sync reports the failure; the VM is restarted in place (start
for a stopped VM, hard reboot otherwise), a bounded number of times within a
window, after which the engine stops and escalates to a person.  A VM its
owner stopped is never restarted.

Both facts are shared by every engine replica, and survive a restart:
the restarts are counted in the history (one ``restart`` record with
outcome ``attempt`` per try), and whether the owner stopped the VM is
read from Nova's own instance actions (a stop by a user, not undone by
a later start; Nova's power sync stops a dead guest without a user).
"""

import datetime

from nova_ha.model import aggregates as ha_aggregates
from nova_ha.model import servers as ha_servers
from nova_ha.notifier import decisions
from nova_ha.notifier.nova import NovaError


def restart_failed_vm(env, settings, window, event, max_attempts):
    """Handle one vm.failure event; returns the outcome string.
    ``window``: seconds over which restarts of one VM are counted."""
    vm = event.instance
    server = env.nova.server(vm)
    if server['host'] != event.host:
        env.record('restart', 'ignoring %s failure of %s reported on %s: '
                   'the server is now on %s' % (event.cause, vm, event.host,
                                                server['host']),
                   host=event.host, instance=vm, outcome='ignored')
        return 'ignored'
    view = ha_aggregates.host_view_of(env.nova.aggregates(), event.host)
    policy = ha_servers.server_policy(
        server['metadata'],
        evacuate_all=bool(view.segment and view.segment.evacuate_all))
    if not policy.enabled:
        env.record('restart', '%s (%s) failed (%s) but is not HA: left as '
                   'is' % (server['name'], vm, event.cause), host=event.host,
                   instance=vm, outcome='not_ha')
        return 'not_ha'
    if view.maintenance:
        env.record('restart', '%s failed on %s, which is in maintenance: '
                   'left as is' % (vm, event.host), host=event.host,
                   instance=vm, outcome='maintenance')
        return 'maintenance'
    since = datetime.datetime.now(datetime.timezone.utc) - \
        datetime.timedelta(seconds=window)
    attempts = len([r for r in env.history.query(
        kind='restart', instance=vm, since=since) if r.outcome == 'attempt'])
    decision = decisions.vm_restart_decision(
        server['status'], server['task_state'], attempts, max_attempts,
        user_stopped=env.nova.stopped_by_user(vm))
    if decision.action is None:
        outcome = 'escalated' if decision.escalate else 'skipped'
        env.record('alert' if decision.escalate else 'restart',
                   '%s (%s) failed (%s): %s' % (server['name'], vm,
                                                event.cause, decision.reason),
                   host=event.host, instance=vm, outcome=outcome)
        return outcome
    env.record('restart', '%s (%s) failed (%s): %s, attempt %d of %d' % (
        server['name'], vm, event.cause, decision.action, attempts + 1,
        max_attempts), host=event.host, instance=vm, outcome='attempt')
    with env.lock('vm-' + vm, timeout=settings.lock_timeout):
        try:
            if decision.action == 'start':
                env.nova.start(vm)
            else:
                env.nova.hard_reboot(vm)
        except NovaError as e:
            # 409: Nova is already acting on it (e.g. its own start);
            # wait for the outcome rather than fail.
            if e.status != 409:
                raise
        env.wait_for(lambda: env.nova.server(vm)['status'] ==
                     decisions.ACTIVE, settings.evacuation_timeout,
                     settings.poll_interval, '%s to be ACTIVE' % vm)
    env.record('restart', '%s (%s) restarted on %s after %s (%s, attempt '
               '%d of %d)' % (server['name'], vm, event.host, event.cause,
                              decision.action, attempts + 1, max_attempts),
               host=event.host, instance=vm, outcome='restarted')
    return 'restarted'
