"""The lab's compute hosts: what runs on one, and how it fails.

A host is its network namespace and the processes in it: nova-compute
(with the lab's virt driver) and nova-ha-monitor.  Its power state is a
file its BMC reads and writes:

    power on   -> the ledger is emptied (a booted host runs no guest), then
                  nova-compute and the monitor start in the namespace;
    power off  -> every process in the namespace gets SIGKILL at once;
    hang       -> every process in the namespace gets SIGSTOP (power stays
                  on: the BMC says "on");
    isolate    -> links go down (management eth0, storage eth1); everything
                  keeps running;
    guests off -> what a watchdog or an isolation response does to QEMU:
                  every guest in the ledger is shut off (virt.GUESTS_OFF).
"""

import json
import os
import signal
import sys

from nova_ha_lab import configs
from nova_ha_lab import ha_conf
from nova_ha_lab import network
from nova_ha_lab import procs as lab_procs
from nova_ha_lab import virt

ON = 'on'
OFF = 'off'


def compute_name(host):
    return '%s.nova-compute' % host.name


def monitor_name(host):
    return '%s.monitor' % host.name


def bmc_name(host):
    return '%s.bmc' % host.name


class Hosts:
    """Power and failures of the lab's hosts."""

    def __init__(self, layout, processes=None):
        self.layout = layout
        self.procs = processes or lab_procs.Processes(layout)

    # -- state ------------------------------------------------------------
    def power(self, host):
        try:
            with open(self.layout.power_file(host.name)) as state:
                return state.read().strip() or OFF
        except FileNotFoundError:
            return OFF

    def _set_power(self, host, state):
        os.makedirs(self.layout.host_dir(host.name), exist_ok=True)
        path = self.layout.power_file(host.name)
        with open(path + '.tmp', 'w') as out:
            out.write(state + '\n')
        os.replace(path + '.tmp', path)

    def frozen(self, host):
        pids = network.namespace_pids(host)
        return bool(pids) and all(lab_procs.stopped(pid) for pid in pids)

    def live(self, host):
        """Can the host's guests run?  Power on and not hung."""
        return self.power(host) == ON and not self.frozen(host)

    def ledger(self, host):
        return virt.read_ledger(self.layout.ledger(host.name))

    # -- processes ---------------------------------------------------------
    def start_compute(self, host):
        conf = configs.compute_nova_conf(self.layout, host)
        return self.procs.start(
            compute_name(host),
            [sys.executable, '-m', 'nova_ha_lab.compute', '--config-file',
             conf],
            env={virt.HOST_DIR_ENV: self.layout.host_dir(host.name)},
            netns=host.netns)

    def start_monitor(self, host):
        conf = ha_conf.write_monitor_conf(
            self.layout, host,
            os.path.join(self.layout.run, compute_name(host) + '.pid'))
        return self.procs.start(
            monitor_name(host),
            [lab_procs.executable('nova-ha-monitor'), '--config-file', conf],
            netns=host.netns)

    # -- power ---------------------------------------------------------------
    def power_on(self, host):
        if self.power(host) == ON and self.procs.pid(compute_name(host)):
            return
        network.ensure_host(host)
        os.makedirs(self.layout.host_dir(host.name), exist_ok=True)
        with open(self.layout.ledger(host.name), 'w') as ledger:
            json.dump({'boot': None, 'guests': {}}, ledger)
        self.clear_guests_off(host)
        self._set_power(host, ON)
        self.start_compute(host)
        if self.layout.with_ha:
            self.start_monitor(host)

    def power_off(self, host):
        """Power lost: every process of the host dies at the same time."""
        self._set_power(host, OFF)
        self._signal_all(host, signal.SIGKILL)
        for name in (compute_name(host), monitor_name(host)):
            self.procs.stop(name, timeout=1)

    def hang(self, host):
        self._signal_all(host, signal.SIGSTOP)

    def thaw(self, host):
        self._signal_all(host, signal.SIGCONT)

    def _signal_all(self, host, signum):
        for pid in network.namespace_pids(host):
            try:
                os.kill(pid, signum)
            except ProcessLookupError:
                pass

    def isolate(self, host, links=('eth0',)):
        for link in links:
            network.set_link(host, up=False, link=link)

    def reconnect(self, host):
        if host.netns not in network.namespaces():
            return
        for link in ('eth0', 'eth1'):
            network.set_link(host, up=True, link=link)
        network.set_coordination_route(host, up=True)

    def _guests_off_marker(self, host, on):
        path = os.path.join(self.layout.host_dir(host.name), virt.GUESTS_OFF)
        if on:
            open(path, 'w').close()
        elif os.path.exists(path):
            os.unlink(path)

    def clear_guests_off(self, host):
        self._guests_off_marker(host, False)

    def guests_off(self, host):
        """Shut off every guest: the ledger now, and the virt driver
        keeps them off (the marker) if its nova-compute still runs."""
        self._guests_off_marker(host, True)
        path = self.layout.ledger(host.name)
        ledger = virt.read_ledger(path) or {'boot': None, 'guests': {}}
        running = [vm for vm, state in ledger.get('guests', {}).items()
                   if state != virt.SHUTDOWN]
        ledger['guests'] = {vm: virt.SHUTDOWN for vm in ledger.get('guests',
                                                                   {})}
        with open(path + '.off.tmp', 'w') as out:
            json.dump(ledger, out, sort_keys=True)
        os.replace(path + '.off.tmp', path)
        return len(running)

    def kill_compute(self, host):
        return self.procs.signal(compute_name(host), signal.SIGKILL)

    def set_crashloop(self, host, on):
        path = os.path.join(self.layout.host_dir(host.name),
                            virt.CRASHLOOP_FILE)
        if on:
            open(path, 'w').close()
        elif os.path.exists(path):
            os.unlink(path)
