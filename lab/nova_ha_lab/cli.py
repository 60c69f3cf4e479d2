"""nova-ha-lab: a cloud of real OpenStack services whose hosts really die.

    nova-ha-lab up                       # control plane, hosts, BMCs, engines
    nova-ha-lab status
    nova-ha-lab fail HOST --mode MODE    # see FAILURE_MODES
    nova-ha-lab repair HOST
    nova-ha-lab run SCENARIO             # a folder of tests/lab/scenarios
    nova-ha-lab tempest                  # Tempest's compute API tests
    nova-ha-lab down                     # leaves nothing running

Runs as root (network namespaces).  The lab's files, logs and pid files
are under --dir (default /var/tmp/nova-ha-lab, or $NOVA_HA_LAB_DIR).
"""

import argparse
import json
import os
import signal
import sys
import time
import warnings

# openstacksdk's futurist imports eventlet, which warns on every command.
warnings.filterwarnings('ignore', message='\nEventlet is deprecated')

from nova_ha_lab import cloud as lab_cloud  # noqa: E402
from nova_ha_lab import control  # noqa: E402
from nova_ha_lab import ha_conf  # noqa: E402
from nova_ha_lab import hosts as lab_hosts  # noqa: E402
from nova_ha_lab import layout as lab_layout  # noqa: E402
from nova_ha_lab import network  # noqa: E402
from nova_ha_lab import procs as lab_procs  # noqa: E402
from nova_ha_lab import tempest  # noqa: E402

FAILURE_MODES = {
    'power': 'power off through the BMC path (the BMC stays reachable)',
    'power-and-bmc': 'power off and the BMC process killed (unreachable)',
    'hang': 'every process of the host SIGSTOPped (the BMC says on)',
    'isolate': 'the management link cut; the storage link and the guests '
               'keep running',
    'isolate-all': 'both links cut: nothing reaches the host, its guests '
                   'keep running',
    'isolate-and-bmc': 'both links cut and the BMC unreachable: only the '
                       'host\'s own watchdog and isolation response can '
                       'stop its guests',
    'coordination': 'only the route to the coordination backend cut',
    'nova-compute': 'nova-compute killed (the host stays up)',
    'crashloop': 'nova-compute killed and dying again at each restart',
    'engine': 'SIGKILL of the engine replica that owns a recovery',
    'rack': 'HOST is a segment: half of its hosts lose power at once',
}

RELAY_RABBITMQ = 'relay-rabbitmq'


def say(text, *args):
    print(('lab: ' + text) % args, flush=True)


class Lab:
    """The lab's operations, on one layout."""

    def __init__(self, layout):
        self.layout = layout
        self.procs = lab_procs.Processes(layout)
        self.hosts = lab_hosts.Hosts(layout, self.procs)

    # -- up / down --------------------------------------------------------
    def up(self, timeout=600, with_ha=True):
        started = time.monotonic()
        os.makedirs(self.layout.base, exist_ok=True)
        marker = self.layout.path('without-ha')
        if with_ha and os.path.exists(marker):
            os.unlink(marker)
        elif not with_ha:
            open(marker, 'w').close()
        network.ensure_bridge()
        self.procs.start(RELAY_RABBITMQ, [
            sys.executable, '-m', 'nova_ha_lab.network',
            str(lab_layout.RABBITMQ_PORT),
            '127.0.0.1:%d' % lab_layout.RABBITMQ_PORT])
        control.prepare(self.layout, self.procs)
        say('databases ready (%.0f s)', time.monotonic() - started)
        control.start(self.layout, self.procs)
        control.wait_healthy(self.layout, timeout=timeout)
        say('control plane healthy (%.0f s)', time.monotonic() - started)
        for host in self.layout.hosts:
            network.ensure_host(host)
            self.start_bmc(host)
            self.hosts.power_on(host)
        conn = lab_cloud.connect(self.layout)
        names = {host.name for host in self.layout.hosts}
        lab_cloud.wait_for(
            'every nova-compute up', lambda: self._computes_up(conn, names),
            timeout)
        control.discover_hosts(self.layout)
        lab_cloud.ensure_segments(conn, self.layout)
        say('%d hosts up, segments declared (%.0f s)', len(names),
            time.monotonic() - started)
        if self.layout.with_ha:
            self.start_engines()
        say('up in %.0f s%s', time.monotonic() - started,
            '' if self.layout.with_ha else ' (without nova-ha)')

    @staticmethod
    def _computes_up(conn, names):
        services = lab_cloud.compute_services(conn)
        return names <= {host for host, service in services.items()
                         if service.state == 'up'}

    def start_bmc(self, host):
        self.procs.start(lab_hosts.bmc_name(host), [
            sys.executable, '-m', 'nova_ha_lab.bmc', '--dir',
            self.layout.base, host.name])

    def engine_names(self):
        return list(lab_layout.ENGINE_REPLICAS)

    def start_engines(self, names=None):
        conf = ha_conf.write_engine_conf(self.layout)
        for name in names or self.engine_names():
            since = self.procs.log_size(name)
            self.procs.start(
                name, [lab_procs.executable('nova-ha-engine'),
                       '--config-file', conf],
                env={'OS_CLIENT_CONFIG_FILE': self.layout.clouds_yaml})
            self.procs.wait_for_log(name, 'nova-ha-engine listening on', 120,
                                    since=since)

    def down(self):
        for name in self.engine_names():
            self.procs.stop(name)
        for host in self.layout.hosts:
            self.hosts.thaw(host)
            self.procs.stop(lab_hosts.bmc_name(host), timeout=5)
            network.remove_host(host)
            for name in (lab_hosts.compute_name(host),
                         lab_hosts.monitor_name(host)):
                self.procs.stop(name, timeout=1)
        control.stop(self.layout, self.procs)
        for name in self.procs.names():
            self.procs.stop(name)
        network.remove_bridge()
        left = [name for name in self.procs.names() if self.procs.pid(name)]
        if left:
            raise RuntimeError('still running: %s' % ', '.join(left))

    # -- failures -----------------------------------------------------------
    def fail(self, name, mode):
        if mode == 'rack':
            segment = self.layout.segments()[name]
            rack = segment[:len(segment) // 2]
            for host in rack:
                self.hosts.power_off(host)
            return [host.name for host in rack]
        if mode == 'engine':
            return [self.kill_owner_engine()]
        host = self.layout.host(name)
        if mode == 'power':
            self.hosts.power_off(host)
        elif mode == 'power-and-bmc':
            self.procs.signal(lab_hosts.bmc_name(host), signal.SIGKILL)
            self.hosts.power_off(host)
        elif mode == 'hang':
            self.hosts.hang(host)
        elif mode == 'isolate':
            self.hosts.isolate(host, ('eth0',))
        elif mode == 'isolate-all':
            self.hosts.isolate(host, ('eth0', 'eth1'))
        elif mode == 'isolate-and-bmc':
            self.procs.signal(lab_hosts.bmc_name(host), signal.SIGKILL)
            self.hosts.isolate(host, ('eth0', 'eth1'))
        elif mode == 'coordination':
            network.set_coordination_route(host, up=False)
        elif mode == 'nova-compute':
            self.hosts.kill_compute(host)
        elif mode == 'crashloop':
            self.hosts.set_crashloop(host, True)
            self.hosts.kill_compute(host)
        else:
            raise ValueError('unknown failure mode %r (one of: %s)' % (
                mode, ', '.join(FAILURE_MODES)))
        return [host.name]

    def kill_owner_engine(self):
        """SIGKILL the replica that owns the latest open incident, as the
        history records it (owner "<hostname>:<pid>")."""
        from nova_ha.history import store as history_store
        history = history_store.HistoryStore(
            self.layout.database_url('nova_ha'))
        try:
            open_incidents = history.list_incidents(open_only=True)
        finally:
            history.close()
        pids = {self.procs.pid(name): name for name in self.engine_names()}
        for incident in sorted(open_incidents, key=lambda i: i.opened_at,
                               reverse=True):
            pid = (incident.owner or '').rpartition(':')[2]
            owner = pids.get(int(pid)) if pid.isdigit() else None
            if owner:
                self.procs.signal(owner, signal.SIGKILL)
                return owner
        raise RuntimeError('no engine replica owns an open incident')

    def repair(self, name):
        """Undo any failure of a host: it runs again, its BMC answers."""
        host = self.layout.host(name)
        self.hosts.set_crashloop(host, False)
        self.hosts.thaw(host)
        self.hosts.reconnect(host)
        self.hosts.clear_guests_off(host)
        self.start_bmc(host)
        monitor = self.procs.pid(lab_hosts.monitor_name(host))
        self.hosts.power_on(host)
        if not self.procs.pid(lab_hosts.compute_name(host)):
            self.hosts.start_compute(host)
        if monitor and self.procs.pid(lab_hosts.monitor_name(host)) == \
                monitor:
            # A repaired host starts afresh (as after a power cycle): its
            # monitor's restart budget from this failure must not carry
            # into the next one.
            self.procs.stop(lab_hosts.monitor_name(host))
            self.hosts.start_monitor(host)
        for engine in self.engine_names():
            if self.layout.with_ha and not self.procs.pid(engine):
                self.start_engines([engine])

    # -- status -------------------------------------------------------------
    def status(self):
        report = {'dir': self.layout.base, 'processes': {}, 'hosts': {}}
        for name in self.procs.names():
            report['processes'][name] = {
                'pid': self.procs.pid(name),
                'log': self.procs.log_file(name)}
        for host in self.layout.hosts:
            ledger = self.hosts.ledger(host) or {}
            report['hosts'][host.name] = {
                'address': host.address, 'segment': host.segment or None,
                'reserved': host.reserved, 'power': self.hosts.power(host),
                'frozen': self.hosts.frozen(host),
                'link_up': network.link_up(host)
                if host.netns in network.namespaces() else None,
                'storage_link_up': network.link_up(host, 'eth1')
                if host.netns in network.namespaces() else None,
                'guests': len(ledger.get('guests', {})),
                'bmc': 'ipmi udp/%d, redfish http://127.0.0.1:%d' % (
                    host.bmc_port, ha_conf.redfish_port(host))}
        return report


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog='nova-ha-lab', description=__doc__.splitlines()[0])
    parser.add_argument('--dir', help='the lab directory')
    sub = parser.add_subparsers(dest='command', required=True)
    up = sub.add_parser('up', help='start the lab cloud')
    up.add_argument('--without-ha', action='store_true',
                    help='Nova as it ships: no nova-ha in nova.conf, no '
                         'engine, no monitor (Tempest\'s comparison runs)')
    sub.add_parser('down', help='stop everything and remove the network')
    sub.add_parser('status', help='what runs where (JSON)')
    fail = sub.add_parser('fail', help='make a host fail')
    fail.add_argument('host', help='a host, or a segment for --mode rack')
    fail.add_argument('--mode', required=True, choices=sorted(FAILURE_MODES),
                      help='; '.join('%s: %s' % item
                                     for item in FAILURE_MODES.items()))
    repair = sub.add_parser('repair', help='undo a host\'s failure')
    repair.add_argument('host')
    run = sub.add_parser('run', help='run a scenario and print its '
                                     'invariant report')
    run.add_argument('scenario', help='a scenario folder or its name')
    tempest_cmd = sub.add_parser(
        'tempest', help='run Tempest\'s compute API tests against the lab')
    tempest.add_arguments(tempest_cmd)
    start = sub.add_parser(
        'start-compute',
        help='start HOST\'s nova-compute (its monitor\'s restart command)')
    start.add_argument('host')
    guests_off = sub.add_parser(
        'guests-off',
        help='stop every guest of HOST, as its watchdog or isolation '
             'response does to QEMU processes')
    guests_off.add_argument('host')
    guests_off.add_argument('response', nargs='?', default='power_off')
    args = parser.parse_args(argv)

    if os.geteuid() != 0:
        parser.error('the lab needs root (network namespaces)')
    lab = Lab(lab_layout.default_layout(args.dir))
    if args.command == 'up':
        lab.up(with_ha=not args.without_ha)
        print(json.dumps(lab.status(), indent=2))
    elif args.command == 'down':
        lab.down()
        say('down: nothing left running')
    elif args.command == 'status':
        print(json.dumps(lab.status(), indent=2))
    elif args.command == 'fail':
        failed = lab.fail(args.host, args.mode)
        say('%s: %s', args.mode, ', '.join(failed))
    elif args.command == 'repair':
        lab.repair(args.host)
        say('%s repaired', args.host)
    elif args.command == 'start-compute':
        # The monitor's restart command for nova-compute.
        host = lab.layout.host(args.host)
        lab.hosts.start_compute(host)
    elif args.command == 'guests-off':
        stopped = lab.hosts.guests_off(lab.layout.host(args.host))
        say('%s: %s %d guest(s)', args.host, args.response, stopped)
    elif args.command == 'tempest':
        return tempest.main(lab, args)
    elif args.command == 'run':
        from nova_ha_lab import scenario
        return scenario.main(lab, args.scenario)
    return 0


if __name__ == '__main__':
    sys.exit(main())
