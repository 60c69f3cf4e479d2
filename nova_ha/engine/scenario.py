"""Scenario folders: a starting cloud, a script of events, the expected log.

    tests/scenarios/NAME/cloud.yaml     the cloud, engines and settings
    tests/scenarios/NAME/events         one command a line, '#' comments
    tests/scenarios/NAME/expected.log   what the run must print, line by line
    tests/scenarios/NAME/README         one line: the story (and, for a
                                        safety finding, how the engine
                                        before this design failed it)

    python -m nova_ha.engine.scenario tests/scenarios/NAME [--regenerate]

prints the run's log; ``--regenerate`` writes expected.log (review it
before committing).  Commands of the events file:

    delay SECONDS                       let the clock run
    power off|on HOST                   the host loses power / boots again
    hang HOST | unhang HOST             every process stops; power stays on
    isolate HOST | reconnect HOST       the host's networks are cut (its
                                        guests keep running)
    cut management|storage HOST         one network of the host is cut
                                        (reconnect restores both)
    stop nova-compute HOST              the process dies, the host lives
    bmc ok|unreachable|wrong_password|slow HOST
    kill ENGINE | start ENGINE
    cut ENGINE | uncut ENGINE           from the coordination backend
    restart coordination                every lease is lost at once
    nova down | nova up                 nova-api stops / starts answering
    history down | history up           the history database stops / starts
    drop next event | duplicate next event | delay events SECONDS
    report down|up HOST                 a monitor's report on the bus
    disable HOST REASON...              disabled in Nova with that reason
    delete VM                           a user deletes the server
    operator-return HOST                an operator brings a repaired host
                                        back (forced down cleared, enabled)
    live-migrate VM TARGET              a live migration that never ends
                                        (its source dies under it)
    task VM TASK_STATE                  a task state left on the VM
    maintenance on|off HOST
    operator retry|confirm-down|close HOST
"""

import argparse
import dataclasses
import os
import shlex
import sys

import yaml

from nova_ha.engine import core
from nova_ha.engine import guards
from nova_ha.engine import model
from nova_ha.engine import sim
from nova_ha.engine import states
from nova_ha.model import aggregates as ha_aggregates
from nova_ha.servicegroup import confirm as sg_confirm
from nova_ha.servicegroup import self_fence


class ScenarioError(ValueError):
    pass


_SETTINGS = {f.name for f in dataclasses.fields(core.Settings)}
_STORM = {'storm_max_share': 'max_share', 'storm_settle_time': 'settle_time',
          'storm_burst_hosts': 'burst'}
_CONFIRM = {'confirm_nova_heartbeat_stale': 'nova_heartbeat_stale_s',
            'confirm_max_wait': 'max_wait_s'}
_RUNG = {'watchdog_kinds': 'kinds', 'watchdog_margin': 'margin'}


def build(cloud_spec):
    """A SimCloud from a cloud.yaml document."""
    spec = dict(cloud_spec or {})
    timings = sim.Timings(**(spec.get('timings') or {}))
    settings = _settings(spec.get('settings') or {}, spec.get('fencing'))
    cloud = sim.SimCloud(timings, settings)
    capacity = spec.get('capacity') or {}
    aggregates = []
    for index, (name, seg) in enumerate(sorted(
            (spec.get('segments') or {}).items())):
        hosts = tuple(seg.get('hosts', ())) + tuple(seg.get('reserved', ()))
        metadata = {ha_aggregates.SEGMENT_KEY: name}
        for key in ('recovery_method', 'enabled', 'evacuate_all',
                    'fencing'):
            if key in seg:
                metadata['ha:' + key] = str(seg[key]).lower()
        aggregates.append(model.Aggregate('agg-%d' % (2 * index), name,
                                          hosts, metadata))
        if seg.get('reserved'):
            aggregates.append(model.Aggregate(
                'agg-%d' % (2 * index + 1), name + '-reserved',
                tuple(seg['reserved']), {ha_aggregates.RESERVED_KEY: 'true'}))
        for host in hosts:
            cloud.hosts[host] = sim.Host(host, capacity=capacity.get(
                host, 20))
    for host in spec.get('hosts') or ():
        cloud.hosts[host] = sim.Host(host, capacity=capacity.get(host, 20))
    cloud.aggregates = aggregates
    cloud.heartbeats = spec.get('heartbeats', True)
    probes = spec.get('peer_probes')
    if probes:
        # The monitors probe their peers; each host's watchdog kind.
        probes = dict(probes)
        watchdogs = probes.pop('watchdogs', {}) or {}
        cloud.peer_probes = {'timings': dict(
            {'timeout': 10.0, 'quorum_timeout': 3.0, 'feed_interval': 1.0},
            **probes)}
        for host, kind in watchdogs.items():
            _host(cloud, host).watchdog = kind
    for index, vm in enumerate(spec.get('servers') or ()):
        metadata = {}
        if vm.get('ha', True):
            metadata['ha:enabled'] = 'true'
        if 'priority' in vm:
            metadata['ha:priority'] = str(vm['priority'])
        vm_id = 'vm-%02d' % (index + 1)
        cloud.servers[vm_id] = sim.Server(
            vm_id, vm['name'], vm['host'], vm.get('status', 'ACTIVE'),
            vm.get('task_state'), metadata)
    for host in spec.get('maintenance') or ():
        _maintenance(cloud, host, True)
    for name in spec.get('engines') or ('engine-1',):
        cloud.start_engine(name)
    return cloud


def _settings(values, fencing):
    values = dict(values)
    storm = {_STORM[k]: values.pop(k) for k in list(values) if k in _STORM}
    confirm = {_CONFIRM[k]: values.pop(k) for k in list(values)
               if k in _CONFIRM}
    rung = {_RUNG[k]: values.pop(k) for k in list(values) if k in _RUNG}
    if 'kinds' in rung:
        rung['kinds'] = tuple(rung['kinds'])
    unknown = set(values) - _SETTINGS
    if unknown:
        raise ScenarioError('unknown settings: %s' % ', '.join(sorted(
            unknown)))
    fencing = dict(fencing or {'default': 'ipmi'})
    default = fencing.pop('default', 'ipmi')
    return core.Settings(
        storm=guards.StormSettings(**storm),
        confirm=sg_confirm.ConfirmThresholds(**confirm),
        watchdog=self_fence.RungSettings(**rung),
        fence_drivers=tuple(sorted(
            (h, None if d == 'none' else d) for h, d in fencing.items())),
        default_fence_driver=None if default == 'none' else default,
        **values)


def _maintenance(cloud, host, on):
    h = cloud.hosts[host]
    h.disabled = on
    h.disabled_reason = ha_aggregates.MAINTENANCE_REASON_PREFIX + \
        ' (operator)' if on else None


def _vm(cloud, name):
    for server in cloud.servers.values():
        if server.name == name:
            return server
    raise ScenarioError('no server named %r' % name)


def _host(cloud, name):
    if name not in cloud.hosts:
        raise ScenarioError('no host named %r' % name)
    return cloud.hosts[name]


def _fail(cloud, host):
    if host.failed_at is None or host.beating:
        host.failed_at = cloud.now
    # The servicegroup watcher tells every replica once the heartbeat is
    # overdue (the coordination backend's down time).
    cloud.at(cloud.now + cloud.timings.liveness_down_time, cloud.wake_all)


def _operator(cloud, verb, host):
    open_ = [row for row in cloud.history.incidents.values()
             if row['host'] == host and row['state'] in states.OPEN]
    if len(open_) != 1:
        raise ScenarioError('operator %s %s: %d open incidents' % (
            verb, host, len(open_)))
    row = open_[0]
    request = verb.replace('-', '_')
    details = {'who': 'alice', 'reason': 'scenario', 'at': cloud.now}
    if request == 'close':
        row['state'] = states.CLOSED
    else:
        row['operator'][request] = details
    cloud.history.record('operator.' + request, 'operator alice: %s %s' % (
        verb, row['key']), who='operator', incident=row['key'])
    cloud.wake_all()


def apply(cloud, line):
    """Run one command of an events file."""
    words = shlex.split(line)
    cmd = ' '.join(words[:2])
    cloud.log('script: %s' % line)
    if words[0] == 'delay' and len(words) == 2:
        cloud.run_until(cloud.now + float(words[1]))
    elif cmd == 'power off':
        host = _host(cloud, words[2])
        _fail(cloud, host)
        host.power = 'off'
    elif cmd == 'power on':
        host = _host(cloud, words[2])
        host.power, host.hung, host.isolated = 'on', False, False
        host.compute_running, host.failed_at = True, None
        cloud.wake_all()
    elif words[0] in ('hang', 'isolate'):
        host = _host(cloud, words[1])
        _fail(cloud, host)
        setattr(host, 'hung' if words[0] == 'hang' else 'isolated', True)
    elif words[0] == 'cut' and len(words) == 3 and \
            words[1] in ('management', 'storage'):
        host = _host(cloud, words[2])
        if words[1] == 'management':
            _fail(cloud, host)
        setattr(host, words[1] + '_cut', True)
    elif words[0] in ('unhang', 'reconnect'):
        host = _host(cloud, words[1])
        host.hung = host.isolated = False
        host.management_cut = host.storage_cut = False
        host.failed_at = None if host.power == 'on' else host.failed_at
        cloud.wake_all()
    elif cmd == 'stop nova-compute':
        host = _host(cloud, words[2])
        host.compute_running = False
        host.failed_at = cloud.now
    elif words[0] == 'bmc':
        _host(cloud, words[2]).bmc = words[1]
    elif words[0] == 'kill':
        cloud.kill_engine(words[1])
    elif words[0] == 'start':
        cloud.start_engine(words[1])
    elif words[0] in ('cut', 'uncut'):
        cloud.engines[words[1]].env.cut_from_coordination = \
            words[0] == 'cut'
    elif cmd == 'restart coordination':
        cloud.leases.drop_all()
    elif words[0] == 'history':
        cloud.history_down = words[1] == 'down'
        cloud.wake_all()
    elif words[0] == 'nova':
        cloud.nova_down = words[1] == 'down'
        cloud.wake_all()
    elif line in ('drop next event', 'duplicate next event'):
        cloud.bus_rule(words[0])
    elif cmd == 'delay events':
        cloud.event_delay = float(words[2])
    elif words[0] == 'report':
        cloud.publish(words[2], words[1])
    elif words[0] == 'live-migrate':
        server = _vm(cloud, words[1])
        server.task_state = 'migrating'
        cloud.migrations.append(model.Migration(
            'mig-live-%s' % server.id, server.id, 'live-migration',
            'running', server.host, words[2], cloud.now))
    elif words[0] == 'disable':
        host = _host(cloud, words[1])
        host.disabled, host.disabled_reason = True, ' '.join(words[2:])
    elif words[0] == 'operator-return':
        host = _host(cloud, words[1])
        host.forced_down = host.disabled = False
        host.disabled_reason = None
        cloud.wake_all()
    elif words[0] == 'delete':
        _vm(cloud, words[1]).status = 'DELETED'
    elif words[0] == 'task':
        _vm(cloud, words[1]).task_state = words[2]
    elif words[0] == 'maintenance':
        _maintenance(cloud, words[2], words[1] == 'on')
        cloud.wake_all()
    elif words[0] == 'operator':
        _operator(cloud, words[1], words[2])
    else:
        raise ScenarioError('unknown command: %s' % line)
    cloud.changed()


def _quiet(cloud):
    if any(row['state'] in states.OPEN and row['state'] != states.PARKED
           and row['state'] != states.HELD
           for row in cloud.history.incidents.values()):
        return False
    return not any(m.status in model.MIGRATION_IN_FLIGHT and
                   m.type == 'evacuation' for m in cloud.migrations)


def _left_unrecovered(cloud):
    """A dead host (powered off or hung) that still holds HA VMs must have
    an incident that is open (under way, held, or parked for an operator,
    who is alerted), ended partial (each VM left behind alerted) or
    closed by an operator: a failure with none is one nobody will
    recover."""
    for host in sorted(cloud.hosts.values(), key=lambda h: h.name):
        if host.beating or host.isolated:
            continue
        stranded = [s.name for s in cloud.servers.values()
                    if s.host == host.name and s.status != 'DELETED' and
                    s.metadata.get('ha:enabled') == 'true']
        open_ = [row for row in cloud.history.incidents.values()
                 if row['host'] == host.name and (
                     row['state'] in states.OPEN or
                     row['state'] in (states.PARTIAL, states.CLOSED))]
        if stranded and not open_:
            yield ('%s is dead with HA VMs on it (%s) and no open incident'
                   % (host.name, ', '.join(sorted(stranded))))


def finish(cloud, deadline):
    """Run until nothing is left to do (or ``deadline``), then log the
    final state and the invariants."""
    end = cloud.now + deadline
    while cloud.now < end:
        cloud.run_until(cloud.now + 5.0)
        if _quiet(cloud) and cloud.now >= cloud.settings.reconcile_interval:
            cloud.run_until(cloud.now + 2 * cloud.settings.reconcile_interval)
            if _quiet(cloud):
                break
    for server in sorted(cloud.servers.values(), key=lambda s: s.name):
        evacuations = [m for m in cloud.evacuations(server.id)
                       if m.status not in model.MIGRATION_FAILED]
        cloud.log('final: %s on %s %s%s, %d evacuation(s)' % (
            server.name, server.host, server.status,
            ' task %s' % server.task_state if server.task_state else '',
            len(evacuations)))
        if len(evacuations) > 1:
            cloud.violations.append('%s evacuated %d times' % (
                server.name, len(evacuations)))
    for host in sorted(cloud.hosts.values(), key=lambda h: h.name):
        if host.forced_down or host.disabled or host.power != 'on':
            cloud.log('final: host %s power %s%s%s' % (
                host.name, host.power,
                ', forced down' if host.forced_down else '',
                ', disabled (%s)' % host.disabled_reason
                if host.disabled else ''))
    for key, row in sorted(cloud.history.incidents.items()):
        cloud.log('final: %s %s (generation %d)' % (
            key, row['state'], row['generation']))
    cloud.violations.extend(_left_unrecovered(cloud))
    for violation in cloud.violations or ['none']:
        cloud.log('invariant violations: %s' % violation)


def run(folder):
    """Run the scenario in ``folder``; its log as a list of lines."""
    with open(os.path.join(folder, 'cloud.yaml')) as f:
        spec = yaml.safe_load(f) or {}
    cloud = build(spec)
    cloud.run_until(0.0)
    with open(os.path.join(folder, 'events')) as f:
        for raw in f:
            line = raw.split('#', 1)[0].strip()
            if line:
                apply(cloud, line)
    finish(cloud, float(spec.get('deadline', 900)))
    return cloud.lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('folder')
    parser.add_argument('--regenerate', action='store_true',
                        help='write expected.log from this run')
    args = parser.parse_args(argv)
    lines = run(args.folder)
    text = '\n'.join(lines) + '\n'
    if args.regenerate:
        with open(os.path.join(args.folder, 'expected.log'), 'w') as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
