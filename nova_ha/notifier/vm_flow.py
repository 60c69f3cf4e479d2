"""The VM-failure flow: bring a crashed VM back, escalating step by step.

A monitor (libvirt crash, watchdog, I/O error, guest panic) or Nova's own
power-state sync reports the failure; the VM is restarted in place (start
for a stopped VM, hard reboot otherwise, hard reboot for every later
try), a bounded number of times within a window; then it is cold-migrated
to another host of its segment (its host may be the cause), and after
that the engine stops and escalates to a person
(``decisions.vm_restart_decision`` holds the ladder).  A VM its
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
from nova_ha.notifier.environment import TimedOut
from nova_ha.notifier.nova import NovaError


def restart_failed_vm(env, settings, window, event, max_attempts,
                      can_migrate=False, backoff=None):
    """Handle one vm.failure event; returns the outcome string.
    ``window``: seconds over which restarts of one VM are counted;
    ``backoff``: (first, longest) seconds to wait before a try that follows
    an earlier one, doubling each time."""
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
        user_stopped=env.nova.stopped_by_user(vm),
        can_migrate=can_migrate and view.segment is not None)
    if decision.action is None:
        outcome = 'escalated' if decision.escalate else 'skipped'
        env.record('alert' if decision.escalate else 'restart',
                   '%s (%s) failed (%s): %s' % (server['name'], vm,
                                                event.cause, decision.reason),
                   host=event.host, instance=vm, outcome=outcome)
        return outcome
    env.record('restart', '%s (%s) failed (%s): %s, attempt %d of %d' % (
        server['name'], vm, event.cause, decision.action, attempts + 1,
        max_attempts + (1 if can_migrate else 0)), host=event.host,
        instance=vm, outcome='attempt')
    if attempts and backoff:
        # A restart that did not hold: wait before the next, longer each
        # time, so a guest that crashes at boot is not restarted in a
        # tight loop (and an owner's or Nova's own start is seen first).
        delay = min(backoff[1], backoff[0] * 2 ** (attempts - 1))
        try:
            env.wait_for(lambda: env.nova.server(vm)['status'] ==
                         decisions.ACTIVE, delay, settings.poll_interval,
                         '%s back-off' % vm)
        except TimedOut:
            pass
        else:
            env.record('restart', '%s (%s) is ACTIVE again during the '
                       'back-off: nothing to do' % (server['name'], vm),
                       host=event.host, instance=vm, outcome='skipped')
            return 'skipped'
    if decision.action == 'migrate':
        return _migrate(env, settings, server, event)
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


def _migrate(env, settings, server, event):
    """The ladder's last step before a person: a cold migration (the
    scheduler keeps the VM in its segment), confirmed, and the VM started
    if it arrives stopped."""
    vm = server['id']
    with env.lock('vm-' + vm, timeout=settings.lock_timeout):
        env.nova.migrate(vm)
        env.wait_for(lambda: env.nova.server(vm)['status'] in (
            'VERIFY_RESIZE', decisions.ERROR), settings.evacuation_timeout,
            settings.poll_interval, '%s to be migrated' % vm)
        moved = env.nova.server(vm)
        if moved['status'] == decisions.ERROR:
            env.record('alert', '%s (%s) could not be migrated off %s: '
                       'escalating' % (server['name'], vm, event.host),
                       host=event.host, instance=vm, outcome='escalated')
            return 'escalated'
        env.nova.confirm_resize(vm)
        env.wait_for(lambda: env.nova.server(vm)['status'] in (
            decisions.ACTIVE, decisions.SHUTOFF), settings.evacuation_timeout,
            settings.poll_interval, '%s migration to be confirmed' % vm)
        if env.nova.server(vm)['status'] == decisions.SHUTOFF:
            env.nova.start(vm)
            env.wait_for(lambda: env.nova.server(vm)['status'] ==
                         decisions.ACTIVE, settings.evacuation_timeout,
                         settings.poll_interval, '%s to be ACTIVE' % vm)
    target = env.nova.server(vm)['host']
    env.record('restart', '%s (%s) moved from %s to %s after restarts on '
               'its host did not hold' % (server['name'], vm, event.host,
                                           target),
               host=event.host, instance=vm, outcome='migrated')
    return 'migrated'
