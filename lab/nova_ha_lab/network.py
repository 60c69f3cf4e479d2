"""The lab's network: a bridge, one namespace per host, relays.

Each host namespace has two veths: ``eth0`` on the management bridge
(the control plane, RabbitMQ through a relay, and the coordination
backend at an address of its own) and ``eth1`` on the storage bridge,
which only the segment peers' probes use.  The machine's RabbitMQ listens
on loopback only, so a relay on the bridge address forwards the hosts'
connections to it (``relay`` processes).

Cuts, as a failed switch port or a bad route would do them, while the
host's processes keep running:

    cut_link(host, 'eth0')    the management network
    cut_link(host, 'eth1')    the storage network
    cut_coordination(host)    only the route to the coordination backend
"""

import argparse
import os
import signal
import sys
import threading

from nova_ha_lab import layout as lab_layout
from nova_ha_lab import procs as lab_procs

IP = 'ip'


def _ip(*args, check=True):
    return lab_procs.run([IP] + list(args), timeout=30, check=check)


def _netns_exec(netns, *args, check=True):
    return lab_procs.run([IP, 'netns', 'exec', netns] + list(args),
                         timeout=30, check=check)


def _link_exists(name):
    return os.path.exists('/sys/class/net/%s' % name)


def namespaces():
    out = _ip('netns', 'list', check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def _ensure_bridge(name, addresses):
    if not _link_exists(name):
        _ip('link', 'add', name, 'type', 'bridge')
    shown = _ip('-o', 'addr', 'show', 'dev', name)
    for address in addresses:
        if ' %s ' % address not in shown:
            _ip('addr', 'add', address, 'dev', name)
    _ip('link', 'set', name, 'up')


def ensure_bridge():
    prefix = lab_layout.PREFIX_LENGTH
    _ensure_bridge(lab_layout.BRIDGE, [
        '%s/%d' % (lab_layout.BRIDGE_ADDRESS, prefix),
        '%s/%d' % (lab_layout.COORDINATION_ADDRESS, prefix)])
    _ensure_bridge(lab_layout.STORAGE_BRIDGE, [])


def _ensure_veth(host, veth, inside, bridge, address):
    if not _link_exists(veth):
        _ip('link', 'add', veth, 'type', 'veth', 'peer', 'name', inside,
            'netns', host.netns)
    _ip('link', 'set', veth, 'master', bridge, 'up')
    address = '%s/%d' % (address, lab_layout.PREFIX_LENGTH)
    if address not in _netns_exec(host.netns, IP, '-o', 'addr', 'show',
                                  'dev', inside):
        _netns_exec(host.netns, IP, 'addr', 'add', address, 'dev', inside)
    _netns_exec(host.netns, IP, 'link', 'set', inside, 'up')


def ensure_host(host):
    """The host's namespace, wired to both bridges with its addresses."""
    if host.netns not in namespaces():
        _ip('netns', 'add', host.netns)
    _netns_exec(host.netns, IP, 'link', 'set', 'lo', 'up')
    _ensure_veth(host, host.veth, 'eth0', lab_layout.BRIDGE, host.address)
    _ensure_veth(host, host.storage_veth, 'eth1', lab_layout.STORAGE_BRIDGE,
                 host.storage_address)


def set_link(host, up, link='eth0'):
    """Connect (``up``) or cut one of the host's links."""
    _netns_exec(host.netns, IP, 'link', 'set', link,
                'up' if up else 'down')


def link_up(host, link='eth0'):
    out = _netns_exec(host.netns, IP, '-o', 'link', 'show', 'dev', link,
                      check=False)
    return 'state UP' in out or ',UP' in out.split('>')[0]


def set_coordination_route(host, up):
    """Cut (a blackhole route: packets vanish, as across a broken router)
    or restore the host's route to the coordination backend alone."""
    route = ['route', '%s' % ('del' if up else 'replace'), 'blackhole',
             '%s/32' % lab_layout.COORDINATION_ADDRESS]
    _netns_exec(host.netns, IP, *route, check=not up)


def namespace_pids(host):
    out = _ip('netns', 'pids', host.netns, check=False)
    return [int(pid) for pid in out.split() if pid.isdigit()]


def remove_host(host):
    for pid in namespace_pids(host):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if host.netns in namespaces():
        _ip('netns', 'delete', host.netns)
    for veth in (host.veth, host.storage_veth):
        if _link_exists(veth):
            _ip('link', 'delete', veth, check=False)


def remove_bridge():
    for bridge in (lab_layout.BRIDGE, lab_layout.STORAGE_BRIDGE):
        if _link_exists(bridge):
            _ip('link', 'delete', bridge)


def relay_main(argv=None):
    """``python -m nova_ha_lab.network LISTEN_PORT TARGET_HOST:PORT``:
    forward the bridge address's LISTEN_PORT to the target until killed."""
    from nova_ha_testbed import fault_services
    parser = argparse.ArgumentParser(description=relay_main.__doc__)
    parser.add_argument('listen_port', type=int)
    parser.add_argument('target')
    args = parser.parse_args(argv)
    host, port = args.target.rsplit(':', 1)
    proxy = fault_services.TcpProxy(
        host, int(port),
        listen=(lab_layout.BRIDGE_ADDRESS, args.listen_port))
    print('relay %s:%d -> %s' % (lab_layout.BRIDGE_ADDRESS,
                                 args.listen_port, args.target), flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    stop.wait()
    proxy.stop()
    return 0


if __name__ == '__main__':
    sys.exit(relay_main())
