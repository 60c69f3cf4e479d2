"""nova-ha.conf for the lab's engine replicas and host monitors.

Written as the README tells an operator to write it: the engines take
Nova's notifications from the ``nova_ha_forward`` topic, lease incidents
in the lab's Redis, keep the history in MariaDB and fence through each
host's BMC (IPMI for segment A, Redfish for the others, so both drivers
are exercised); each host's monitor watches its nova-compute by pid file
and heartbeats the host group in the same Redis.

The hung-host channels are on as for a production segment: each monitor
probes its segment peers over the storage bridge, arms the software
watchdog (a lab host has no watchdog device, and loading softdog here
would reset the machine the whole lab runs on) and powers its guests off
when isolated; the engines believe the software watchdog, which they must
not in production (a frozen host freezes it too).
"""

import os
import shlex
import sys

from nova_ha.lab import layout as lab_layout


def fence_driver(host):
    return 'ipmi' if host.segment == 'seg-a' else 'redfish'


def redfish_port(host):
    return 8000 + host.bmc_port


def redfish_system_id(host):
    return '00000000-0000-0000-0000-%012d' % host.index


def fencing_sections(layout):
    sections = []
    for host in layout.hosts:
        if fence_driver(host) == 'ipmi':
            options = {'driver': 'ipmi', 'address': '127.0.0.1',
                       'port': host.bmc_port}
        else:
            options = {'driver': 'redfish',
                       'address': 'http://127.0.0.1:%d' % redfish_port(host),
                       'system_id': redfish_system_id(host),
                       'verify_tls': 'false'}
        options.update(username=lab_layout.BMC_USER,
                       password=lab_layout.BMC_PASSWORD,
                       request_timeout=2)
        sections.append('[fencing_host:%s]\n%s' % (host.name, ''.join(
            '%s = %s\n' % item for item in sorted(options.items()))))
    return '\n'.join(sections)


ENGINE_CONF = """\
[DEFAULT]
transport_url = %(transport_url)s
debug = false

[engine]
cloud = lab
nova_topic = nova_ha_nova
coordination_url = %(redis_url)s
# The scenarios fail the same hosts every few minutes on purpose.
quarantine_failures = 0

[history]
connection = %(history_url)s

[ha_servicegroup]
backend_url = %(redis_url)s

[fencing]
timeout = 30
retry_interval = 5

[watchdog_rung]
kinds = hardware,softdog,software

%(fencing)s"""

MONITOR_CONF = """\
[DEFAULT]
transport_url = %(transport_url)s
debug = false

[monitor]
host = %(host)s
libvirt_events = false
host_heartbeat = true

[monitor_nova_compute]
check = pidfile
pid_file = %(pid_file)s
command_pattern = nova_ha\.lab\.compute
restart_command = %(restart_command)s
check_interval = 1.0

[ha_servicegroup]
backend_url = %(redis_url)s

[monitor_peers]
enabled = %(peers_enabled)s
address = %(storage_address)s
port = %(peer_port)d
peers = %(peers)s
key = %(peer_key)s

[watchdog]
kind = software
timeout = 10
feed_interval = 1
quorum_timeout = 3
work_dir = %(watchdog_dir)s
kill_patterns = nova_ha.lab.compute
fire_command = %(guests_off)s

[isolation]
response = power_off
isolation_time = 10
gateway = %(gateway)s
gateway_port = %(gateway_port)d
guest_command = %(guests_off)s
"""


def engine_conf_path(layout):
    return os.path.join(layout.etc, 'nova-ha', 'engine.conf')


def monitor_conf_path(layout, host):
    return os.path.join(layout.etc, 'hosts', host.name, 'nova-ha.conf')


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, 'w') as out:
        out.write(text)
    os.chmod(path, 0o600)   # BMC passwords
    return path


def write_engine_conf(layout):
    return _write(engine_conf_path(layout), ENGINE_CONF % {
        'transport_url': layout.transport_url(local=True),
        'redis_url': layout.redis_url,
        'history_url': layout.database_url('nova_ha'),
        'fencing': fencing_sections(layout)})


def write_monitor_conf(layout, host, compute_pid_file):
    restart = [sys.executable, '-m', 'nova_ha.lab.cli', '--dir',
               layout.base, 'start-compute', host.name]
    peers = [p for p in layout.hosts
             if host.segment and p.segment == host.segment and p != host]
    guests_off = [sys.executable, '-m', 'nova_ha.lab.cli', '--dir',
                  layout.base, 'guests-off', host.name]
    return _write(monitor_conf_path(layout, host), MONITOR_CONF % {
        'transport_url': layout.transport_url(),
        'host': host.name,
        'pid_file': compute_pid_file,
        'restart_command': shlex.join(restart),
        'redis_url': layout.redis_url,
        'peers_enabled': 'true' if peers else 'false',
        'storage_address': host.storage_address,
        'peer_port': lab_layout.PEER_PORT,
        'peers': ','.join('%s=%s' % (p.name, p.storage_address)
                          for p in peers),
        'peer_key': 'lab-peers-%s' % (host.segment or 'none'),
        'watchdog_dir': os.path.join(layout.host_dir(host.name), 'watchdog'),
        'guests_off': shlex.join(guests_off),
        'gateway': lab_layout.BRIDGE_ADDRESS,
        'gateway_port': lab_layout.PORTS['nova']})
