"""Scenario folders: a starting cloud, a script of events, the expected log.

    FOLDER/cloud.yaml     the cloud, engines and settings
    FOLDER/events         one command a line, '#' comments
    FOLDER/expected.log   what the run must print, line by line
    FOLDER/README         one line: the story (and, for a safety finding,
                          how the engine before its fix failed it)

    python -m nova_ha.engine.scenario FOLDER [--regenerate]

The suite's folders are tests/scenarios/CONCERN/BEHAVIOUR (detection,
peers, fencing, operator, evacuation, storms, replicas, control_plane,
vm_failure, process_failure); a folder anywhere else runs the same way.

prints the run's log; ``--regenerate`` writes expected.log (review it
before committing).  ``python -m nova_ha.engine.scenario --commands``
lists the commands of the events file (the table ``COMMANDS`` below).

The run ends when nothing is left to do, then the strict judge's verdict
(nova_ha.engine.judge) closes the log: ``invariant violations: none``, or
one line per violation.
"""

import argparse
import dataclasses
import os
import shlex
import sys

import yaml

from nova_ha.engine import model
from nova_ha.engine import settings as engine_settings
from nova_ha.engine import sim
from nova_ha.engine import states
from nova_ha.model import aggregates as ha_aggregates


class ScenarioError(ValueError):
    pass


def build(cloud_spec):
    """A SimCloud from a cloud.yaml document."""
    spec = dict(cloud_spec or {})
    timings = sim.Timings(**(spec.get('timings') or {}))
    settings = _settings(spec.get('settings') or {}, spec.get('fencing'))
    cloud = sim.SimCloud(timings, settings,
                         lost_after=float(spec.get('lost_after', 300.0)))
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
        # The monitors probe their peers; each host's watchdog kind, and
        # (when not its segment) the peers each monitor is configured with.
        probes = dict(probes)
        watchdogs = probes.pop('watchdogs', {}) or {}
        for host, peers in (probes.pop('peers', {}) or {}).items():
            _host(cloud, host)
            cloud.monitor_peers[host] = [_host(cloud, p).name for p in peers]
        cloud.peer_probes = {'timings': dict(
            {'timeout': 10.0, 'quorum_timeout': 3.0, 'feed_interval': 1.0},
            **probes)}
        for host, kind in watchdogs.items():
            _host(cloud, host).watchdog = kind
    for host, phase in (spec.get('beat_phase') or {}).items():
        _host(cloud, host).beat_phase = float(phase)
    for host, skew in (spec.get('skew') or {}).items():
        if host in cloud.hosts:
            cloud.hosts[host].skew = float(skew)
        else:
            cloud.engine_skews[host] = float(skew)
    for index, vm in enumerate(spec.get('servers') or ()):
        metadata = {}
        if vm.get('ha', True):
            metadata['ha:enabled'] = 'true'
        if 'priority' in vm:
            metadata['ha:priority'] = str(vm['priority'])
        vm_id = 'vm-%02d' % (index + 1)
        status = vm.get('status', 'ACTIVE')
        cloud.servers[vm_id] = sim.Server(
            vm_id, vm['name'], _host(cloud, vm['host']).name, status,
            vm.get('task_state'), metadata)
        if status == 'ACTIVE':
            cloud.guests.setdefault(vm['host'], set()).add(vm_id)
    for host in spec.get('maintenance') or ():
        _maintenance(cloud, host, True)
    cloud.changed()
    engines = spec.get('engines')
    for name in ('engine-1',) if engines is None else engines:
        cloud.start_engine(name)
    return cloud


def _settings(values, fencing):
    """The engine's settings from cloud.yaml's ``settings`` (option names
    as in nova-ha.conf, see nova_ha.engine.settings) and ``fencing``
    (host -> fence driver, ``default``; 'none': no fencing)."""
    fencing = dict(fencing or {'default': 'ipmi'})
    default = fencing.pop('default', 'ipmi')
    try:
        return engine_settings.from_options(
            values, fence_drivers=tuple(sorted(
                (h, None if d == 'none' else d) for h, d in fencing.items())),
            default_fence_driver=None if default == 'none' else default)
    except engine_settings.UnknownOption as e:
        raise ScenarioError(str(e)) from None


def _maintenance(cloud, host, on):
    h = _host(cloud, host)
    h.disabled = on
    h.service_written_at = cloud.now if cloud.now else None
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


def _engine(cloud, name):
    if name not in cloud.engines:
        raise ScenarioError('no engine named %r running' % name)
    return cloud.engines[name]


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
        row['since'] = cloud.now
    else:
        row['operator'][request] = details
    if request == 'confirm_down':
        cloud.judge.attested(_host(cloud, host))
    cloud.history.record('operator.' + request, 'operator alice: %s %s' % (
        verb, row['key']), who='operator', incident=row['key'])
    cloud.wake_all()


# -- the commands ---------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Command:
    """One command of an events file.  ``pattern``: literal words (a|b:
    one of), UPPER words are arguments, [x|y] an optional word, a last
    REST... takes the remaining words."""

    pattern: str
    doc: str
    handler: object

    def match(self, words):
        """The arguments when ``words`` match, else None."""
        args = []
        tokens = self.pattern.split()
        i = 0
        for token in tokens:
            if token.endswith('...'):
                if i >= len(words):
                    return None
                args.append(' '.join(words[i:]))
                i = len(words)
                continue
            optional = token.startswith('[')
            choices = token.strip('[]').split('|')
            if i >= len(words):
                if optional:
                    args.append(None)
                    continue
                return None
            word = words[i]
            if token.strip('[]').isupper():
                args.append(word)
            elif word in choices:
                if len(choices) > 1:
                    args.append(word)
            elif optional:
                args.append(None)
                continue
            else:
                return None
            i += 1
        return args if i == len(words) else None


def _delay(cloud, seconds):
    cloud.run_until(cloud.now + float(seconds))


def _power(cloud, state, host):
    h = _host(cloud, host)
    if state == 'off':
        cloud.power_off(h)
    else:
        cloud.power_on(h)


def _hang(cloud, host):
    _host(cloud, host).hung = True


def _unhang(cloud, host):
    _host(cloud, host).hung = False
    cloud.wake_all()


def _isolate(cloud, host):
    _host(cloud, host).cut |= {(n, d) for n in sim.NETWORKS
                               for d in (sim.TX, sim.RX)}


def _reconnect(cloud, host):
    _host(cloud, host).cut.clear()
    cloud.blocked = {pair for pair in cloud.blocked if host not in pair}
    cloud.wake_all()


def _cut_network(cloud, network, host, direction):
    directions = (direction,) if direction else (sim.TX, sim.RX)
    _host(cloud, host).cut |= {(network, d) for d in directions}


def _cut_link(cloud, sender, receiver):
    cloud.blocked.add((_host(cloud, sender).name,
                       _host(cloud, receiver).name))


def _heal_link(cloud, sender, receiver):
    cloud.blocked.discard((sender, receiver))


def _replay(cloud, peer, host):
    cloud.replayed.setdefault(_host(cloud, host).name, set()).add(
        _host(cloud, peer).name)


def _stop_replay(cloud, peer, host):
    cloud.replayed.get(host, set()).discard(peer)


def _nova_compute(cloud, verb, host):
    h = _host(cloud, host)
    h.compute_running = verb == 'start'
    if verb == 'start':
        cloud.wake_all()


def _bmc(cloud, state, host):
    h = _host(cloud, host)
    if state == 'stale':
        h.bmc_frozen_power = h.power
    h.bmc = state


def _bmc_dies_with_host(cloud, host):
    _host(cloud, host).bmc_dies_with_host = True


def _kill(cloud, name):
    _engine(cloud, name)
    cloud.kill_engine(name)


def _start(cloud, name):
    if name in cloud.engines:
        raise ScenarioError('%s is already running' % name)
    cloud.start_engine(name)


def _cut_engine(cloud, name):
    _engine(cloud, name).env.cut_from_coordination = True


def _uncut_engine(cloud, name):
    _engine(cloud, name).env.cut_from_coordination = False
    cloud.wake(name)


def _pause(cloud, name, seconds):
    engine = _engine(cloud, name)
    engine.paused_until = cloud.now + float(seconds)


def _skew(cloud, name, seconds):
    if name in cloud.hosts:
        cloud.hosts[name].skew = float(seconds)
        return
    cloud.engine_skews[name] = float(seconds)
    if name in cloud.engines:
        cloud.engines[name].env.skew = float(seconds)


def _restart_coordination(cloud):
    cloud.leases.drop_all()


_PARTS = {'nova': sim.NOVA_API, 'nova-api': sim.NOVA_API,
          'conductor': sim.CONDUCTOR, 'rabbit': sim.RABBIT,
          'database': sim.DATABASE, 'redis': sim.REDIS,
          'history': sim.HISTORY}


def _control_plane(cloud, part, state):
    if state == 'down':
        cloud.down.add(_PARTS[part])
    else:
        cloud.down.discard(_PARTS[part])
    cloud.wake_all()


def _bus_rule(cloud, rule):
    cloud.bus_rule(rule)


def _delay_events(cloud, seconds):
    cloud.event_delay = float(seconds)


def _report(cloud, kind, host):
    cloud.publish(host, kind)


def _live_migrate(cloud, vm, target):
    server = _vm(cloud, vm)
    server.task_state = 'migrating'
    cloud.migrations.append(model.Migration(
        'mig-live-%s' % server.id, server.id, 'live-migration',
        'running', server.host, target, cloud.now))


def _disable(cloud, host, reason):
    h = _host(cloud, host)
    h.disabled, h.disabled_reason = True, reason
    h.service_written_at = cloud.now


def _operator_return(cloud, host):
    h = _host(cloud, host)
    h.forced_down = h.disabled = False
    h.disabled_reason = None
    h.service_written_at = cloud.now
    cloud.wake_all()


def _delete(cloud, vm):
    _vm(cloud, vm).status = 'DELETED'
    for guests in cloud.guests.values():
        guests.discard(_vm(cloud, vm).id)


def _task(cloud, vm, task_state):
    _vm(cloud, vm).task_state = task_state


def _maintenance_command(cloud, state, host):
    _maintenance(cloud, host, state == 'on')
    cloud.wake_all()


def _fail_after_spawn(cloud, vm):
    cloud.fail_after_spawn.add(_vm(cloud, vm).id)


def _crash(cloud, vm, cause):
    cloud.crash(_vm(cloud, vm).id, cause or 'crash')


def _crash_at_boot(cloud, vm, count):
    _vm(cloud, vm).crash_at_boot = int(count)


def _user_power(cloud, verb, vm):
    cloud.user_power(_vm(cloud, vm).id, verb == 'user-start')


def _libvirtd(cloud, verb, host):
    cloud.stop_libvirtd(_host(cloud, host), verb == 'stop')


COMMANDS = (
    Command('delay SECONDS', 'let the clock run', _delay),
    Command('power off|on HOST', 'the host loses power / boots again '
            '(with no guest running)', _power),
    Command('hang HOST', 'every process stops; the power stays on and the '
            'guests may resume', _hang),
    Command('unhang HOST', 'the frozen host runs again', _unhang),
    Command('isolate HOST', 'both networks of the host fail both ways (its '
            'guests keep running)', _isolate),
    Command('reconnect HOST', 'every network of the host works again, its '
            'links included', _reconnect),
    Command('cut management|storage HOST [tx|rx]', 'one network of the host '
            'fails, one way or both', _cut_network),
    Command('cut link SENDER RECEIVER', 'storage datagrams from SENDER no '
            'longer reach RECEIVER (one way)', _cut_link),
    Command('heal link SENDER RECEIVER', 'the link works again', _heal_link),
    Command('replay PEER to HOST', 'an attacker replays PEER\'s old probe '
            'datagrams to HOST', _replay),
    Command('stop replay PEER to HOST', 'the replay ends', _stop_replay),
    Command('stop|start nova-compute HOST', 'the process dies / is back; '
            'the host lives', _nova_compute),
    Command('bmc ok|unreachable|wrong_password|slow|stale|dead HOST',
            'the BMC works, cannot be reached, refuses the credentials, '
            'answers after bmc_slow_latency, reads a frozen power state '
            '(still obeying commands), or is dead', _bmc),
    Command('bmc dies-with-host HOST', 'the BMC shares the host\'s power '
            '(a power loss takes it too)', _bmc_dies_with_host),
    Command('kill ENGINE', 'SIGKILL of an engine replica', _kill),
    Command('start ENGINE', 'a replica starts (a new member: it holds no '
            'lease)', _start),
    Command('cut ENGINE', 'the replica loses the coordination backend',
            _cut_engine),
    Command('uncut ENGINE', 'it reaches it again', _uncut_engine),
    Command('pause ENGINE SECONDS', 'every thread of the replica stops '
            '(actions picked up later check their lease again)', _pause),
    Command('skew NAME SECONDS', 'the clock of a host or an engine is off '
            'by SECONDS', _skew),
    Command('restart coordination', 'every lease is lost at once',
            _restart_coordination),
    Command('nova|nova-api|conductor|rabbit|database|redis|history down|up',
            'a part of the control plane stops / starts answering',
            _control_plane),
    Command('drop|duplicate next event', 'the bus loses / doubles the next '
            'report', _bus_rule),
    Command('delay events SECONDS', 'reports take this long', _delay_events),
    Command('report down|up HOST', 'a monitor\'s report on the bus (true '
            'or not)', _report),
    Command('disable HOST REASON...', 'disabled in Nova with that reason',
            _disable),
    Command('delete VM', 'a user deletes the server', _delete),
    Command('operator-return HOST', 'an operator brings a repaired host '
            'back (forced down cleared, enabled)', _operator_return),
    Command('live-migrate VM TARGET', 'a live migration that never ends '
            '(its source dies under it)', _live_migrate),
    Command('task VM TASK_STATE', 'a task state left on the VM', _task),
    Command('maintenance on|off HOST', 'the operator\'s maintenance mark',
            _maintenance_command),
    Command('operator retry|confirm-down|close HOST', 'an operator\'s '
            'request on the host\'s open incident', _operator),
    Command('fail-after-spawn VM', 'the next evacuation of VM fails on its '
            'destination after the guest was spawned there',
            _fail_after_spawn),
    Command('crash VM [CAUSE]', 'the guest dies on its host (crash, '
            'watchdog, panic, io_error) and its monitor reports it; Nova '
            'still shows it ACTIVE', _crash),
    Command('crash-at-boot VM COUNT', 'the next COUNT starts of the guest '
            'on its host die half a second later', _crash_at_boot),
    Command('user-stop|user-start VM', 'its owner stops / starts it through '
            'Nova', _user_power),
    Command('stop|start libvirtd HOST', 'libvirtd dies / is back (its '
            'guests run on; the monitor reports it after '
            'process_report_after)', _libvirtd),
)


def apply(cloud, line, lenient=False):
    """Run one command of an events file.  ``lenient``: a command the
    state refuses (an operator's request with no open incident, an engine
    that is not running) is logged and skipped, as the explorer wants."""
    words = shlex.split(line)
    cloud.log('script: %s' % line)
    for command in COMMANDS:
        args = command.match(words)
        if args is not None:
            try:
                command.handler(cloud, *args)
            except ScenarioError as e:
                if not lenient:
                    raise
                cloud.log('script: (skipped: %s)' % e)
            cloud.changed()
            cloud.judge.check()
            return
    raise ScenarioError('unknown command: %s' % line)


def describe():
    """The commands, one per line, for --commands."""
    return '\n'.join('%-46s %s' % (c.pattern, c.doc) for c in COMMANDS)


def _quiet(cloud):
    if any(row['state'] in states.OPEN and row['state'] != states.PARKED
           and row['state'] != states.HELD
           for row in cloud.history.incidents.values()):
        return False
    if cloud.judge.pending():
        return False
    # A move bound for a host that died will never end.
    return not any(m.status in model.MIGRATION_IN_FLIGHT and
                   m.type == 'evacuation' and
                   (m.dest is None or cloud.hosts[m.dest].up)
                   for m in cloud.migrations)


def finish(cloud, deadline):
    """Run until nothing is left to do (or ``deadline``), then log the
    final state and the judge's verdict."""
    end = cloud.now + max(deadline, cloud.judge.lost_after + 30.0)
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
    for violation in cloud.violations or ['none']:
        cloud.log('invariant violations: %s' % violation)


def load(folder):
    """(cloud spec, event lines) of a scenario folder."""
    with open(os.path.join(folder, 'cloud.yaml')) as f:
        spec = yaml.safe_load(f) or {}
    lines = []
    with open(os.path.join(folder, 'events')) as f:
        for raw in f:
            line = raw.split('#', 1)[0].strip()
            if line:
                lines.append(line)
    return spec, lines


def play(spec, lines, lenient=False):
    """Run a cloud spec and its events; the finished SimCloud."""
    cloud = build(spec)
    cloud.run_until(0.0)
    for line in lines:
        apply(cloud, line, lenient)
    finish(cloud, float(spec.get('deadline', 900)))
    return cloud


def run(folder):
    """Run the scenario in ``folder``; its log as a list of lines."""
    return play(*load(folder)).lines


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('folder', nargs='?')
    parser.add_argument('--regenerate', action='store_true',
                        help='write expected.log from this run')
    parser.add_argument('--commands', action='store_true',
                        help='list the commands of an events file')
    args = parser.parse_args(argv)
    if args.commands or not args.folder:
        sys.stdout.write(describe() + '\n')
        return 0
    lines = run(args.folder)
    text = '\n'.join(lines) + '\n'
    if args.regenerate:
        with open(os.path.join(args.folder, 'expected.log'), 'w') as f:
            f.write(text)
    sys.stdout.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())
