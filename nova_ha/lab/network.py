"""The lab's network: a bridge, one namespace per host, relays.

Each host namespace has one veth (``eth0`` inside) on the bridge and its
own address.  The control plane listens on the bridge's address.  The
machine's RabbitMQ listens on loopback only, so a relay on the bridge
address forwards the hosts' connections to it (``relay`` processes).

Cutting a host's link (``isolate``) sets its ``eth0`` down: its processes
keep running and reach nothing, as with a failed switch port.
"""

import argparse
import os
import signal
import sys
import threading

from nova_ha.lab import layout as lab_layout
from nova_ha.lab import procs as lab_procs

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


def ensure_bridge():
    if not _link_exists(lab_layout.BRIDGE):
        _ip('link', 'add', lab_layout.BRIDGE, 'type', 'bridge')
    address = '%s/%d' % (lab_layout.BRIDGE_ADDRESS, lab_layout.PREFIX_LENGTH)
    if address not in _ip('-o', 'addr', 'show', 'dev', lab_layout.BRIDGE):
        _ip('addr', 'add', address, 'dev', lab_layout.BRIDGE)
    _ip('link', 'set', lab_layout.BRIDGE, 'up')


def ensure_host(host):
    """The host's namespace, wired to the bridge with its address."""
    if host.netns not in namespaces():
        _ip('netns', 'add', host.netns)
    if not _link_exists(host.veth):
        _ip('link', 'add', host.veth, 'type', 'veth', 'peer', 'name',
            'eth0', 'netns', host.netns)
    _ip('link', 'set', host.veth, 'master', lab_layout.BRIDGE, 'up')
    _netns_exec(host.netns, IP, 'link', 'set', 'lo', 'up')
    address = '%s/%d' % (host.address, lab_layout.PREFIX_LENGTH)
    if address not in _netns_exec(host.netns, IP, '-o', 'addr', 'show',
                                  'dev', 'eth0'):
        _netns_exec(host.netns, IP, 'addr', 'add', address, 'dev', 'eth0')
    _netns_exec(host.netns, IP, 'link', 'set', 'eth0', 'up')


def set_link(host, up):
    """Connect (``up``) or cut the host's only link."""
    _netns_exec(host.netns, IP, 'link', 'set', 'eth0',
                'up' if up else 'down')


def link_up(host):
    out = _netns_exec(host.netns, IP, '-o', 'link', 'show', 'dev', 'eth0',
                      check=False)
    return 'state UP' in out or ',UP' in out.split('>')[0]


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
    if _link_exists(host.veth):
        _ip('link', 'delete', host.veth, check=False)


def remove_bridge():
    if _link_exists(lab_layout.BRIDGE):
        _ip('link', 'delete', lab_layout.BRIDGE)


def relay_main(argv=None):
    """``python -m nova_ha.lab.network LISTEN_PORT TARGET_HOST:PORT``:
    forward the bridge address's LISTEN_PORT to the target until killed."""
    from nova_ha.testing import fault_services
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
