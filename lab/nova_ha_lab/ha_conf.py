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

Keys are provisioned as an installer would: each host signs its events
with a key of its own (``[monitor] event_key``), which the engines hold in
``[event_signing] host_keys``, and the hosts of a segment share a probe
key (``[monitor_peers] key``) that no other segment has.  They are derived
from one random secret of the lab (``secret_path``, made once, readable by
its owner only), so that every rewrite of a file, a repaired host's
monitor included, gives the same keys, and no two labs share any.
"""

import hashlib
import hmac
import os
import secrets
import shlex
import sys

from nova_ha_lab import layout as lab_layout


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
                       request_timeout=1)
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
# Side effects fit in what a 5 s lease keeps between renewals (3.75 s),
# so that a survivor takes an incident over 5 s after its owner died.
nova_api_timeout = 3
# The scenarios fail the same hosts every few minutes on purpose.
quarantine_failures = 0

[history]
connection = %(history_url)s

[ha_servicegroup]
backend_url = %(redis_url)s

[fencing]
# The lab's BMCs answer at once; a fence is bounded at 1.5 + 2 x 1 s.
timeout = 1.5
retry_interval = 5

[watchdog_rung]
# Lab only, an explicit opt-in: the lab's hosts have no watchdog device
# (and softdog would reset the machine the whole lab runs on), so their
# monitors arm the software watchdog.  A production engine must not
# believe it: a frozen host freezes it too.
kinds = hardware,software
# One machine, one clock: the smallest margin the engine accepts.
margin = 1

[event_signing]
required = true
host_keys = %(host_keys)s

%(fencing)s"""

MONITOR_CONF = """\
[DEFAULT]
transport_url = %(transport_url)s
debug = false

[monitor]
host = %(host)s
libvirt_events = false
host_heartbeat = true
event_key = %(event_key)s

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
# SBD's default watchdog timeout.
timeout = 5
feed_interval = 1
quorum_timeout = 2
work_dir = %(watchdog_dir)s
kill_patterns = nova_ha_lab.compute
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


def secret_path(layout):
    return os.path.join(layout.etc, 'nova-ha', 'keys.secret')


def _lab_secret(layout):
    """The lab's secret, made on first use.  Written aside and linked into
    place, which fails if it exists: two writers never make different
    ones, and none reads a half-written one."""
    path = secret_path(layout)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not os.path.exists(path):
        draft = '%s.%d' % (path, os.getpid())
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, 'w') as out:
            out.write(secrets.token_hex(32) + '\n')
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    with open(path) as f:
        return f.read().strip().encode()


def _derived_key(layout, purpose, name):
    return hmac.new(_lab_secret(layout), ('%s:%s' % (purpose, name)).encode(),
                    hashlib.sha256).hexdigest()


def event_key(layout, host):
    """``host``'s key for signing its monitor's events."""
    return _derived_key(layout, 'event-key', host.name)


def peer_key(layout, segment):
    """The probe key of the hosts of ``segment``."""
    return _derived_key(layout, 'peer-key', segment)


def host_keys(layout):
    """``[event_signing] host_keys``: every host's event key."""
    return ','.join('%s:%s' % (host.name, event_key(layout, host))
                    for host in layout.hosts)


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    # Readable by its owner only from the start: BMC passwords, keys.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)
    with os.fdopen(fd, 'w') as out:
        out.write(text)
    return path


def write_engine_conf(layout):
    return _write(engine_conf_path(layout), ENGINE_CONF % {
        'transport_url': layout.transport_url(local=True),
        'redis_url': layout.redis_url,
        'history_url': layout.database_url('nova_ha'),
        'host_keys': host_keys(layout),
        'fencing': fencing_sections(layout)})


def write_monitor_conf(layout, host, compute_pid_file):
    restart = [sys.executable, '-m', 'nova_ha_lab.cli', '--dir',
               layout.base, 'start-compute', host.name]
    peers = [p for p in layout.hosts
             if host.segment and p.segment == host.segment and p != host]
    guests_off = [sys.executable, '-m', 'nova_ha_lab.cli', '--dir',
                  layout.base, 'guests-off', host.name]
    return _write(monitor_conf_path(layout, host), MONITOR_CONF % {
        'transport_url': layout.transport_url(),
        'host': host.name,
        'event_key': event_key(layout, host),
        'pid_file': compute_pid_file,
        'restart_command': shlex.join(restart),
        'redis_url': layout.redis_url,
        'peers_enabled': 'true' if peers else 'false',
        'storage_address': host.storage_address,
        'peer_port': lab_layout.PEER_PORT,
        'peers': ','.join('%s=%s' % (p.name, p.storage_address)
                          for p in peers),
        # A host in no segment probes nobody: it needs no key.
        'peer_key': peer_key(layout, host.segment) if peers else '',
        'watchdog_dir': os.path.join(layout.host_dir(host.name), 'watchdog'),
        'guests_off': shlex.join(guests_off),
        'gateway': lab_layout.BRIDGE_ADDRESS,
        'gateway_port': lab_layout.PORTS['nova']})
