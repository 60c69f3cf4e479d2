"""Options of the hung-host channels: peer probes, the watchdog, isolation.

``[monitor_peers]``, ``[watchdog]`` and ``[isolation]`` are read by
nova-ha-monitor on each compute node; ``[watchdog_rung]`` by the engines.
Hosts of one segment should carry the same values (the installer writes
them from the segment's settings).
"""

from oslo_config import cfg
from oslo_config import types

PEERS_GROUP = cfg.OptGroup(
    'monitor_peers', title='nova-ha-monitor: probes of the segment peers',
    help='The monitors of a failover segment probe each other over a '
         'second network (the storage network) and publish what they hear '
         'with their host heartbeat. The engine then tells a hung host '
         '(silent on every channel: fenced within seconds) from an '
         'isolated one (its peers still hear it: never fenced).')

PEERS_OPTS = [
    cfg.BoolOpt('enabled', default=False,
                help='Probe the peers listed in "peers" and answer their '
                     'probes.'),
    cfg.HostAddressOpt('address', default='0.0.0.0',
                       help='Address of this host on the probe network, '
                            'where the monitor answers probes (UDP).'),
    cfg.PortOpt('port', default=7410,
                help='UDP port of the probes, the same on every host.'),
    cfg.ListOpt('peers', default=[],
                help='The other hosts of this host\'s segment, as '
                     'HOST=ADDRESS (their Nova host name and their address '
                     'on the probe network). Include the reserved hosts.'),
    cfg.FloatOpt('probe_interval', default=0.5, min=0.1,
                 help='Seconds between two probes of every peer; the view '
                      'is published as often.'),
    cfg.StrOpt('key', secret=True,
               help='Key shared by the monitors of a segment, required when '
                    'peers are listed (nova-ha-monitor refuses to start '
                    'without it): every probe and answer carries an '
                    'HMAC-SHA256 with it, and datagrams that are unsigned, '
                    'wrongly signed, or answers replayed or not to this '
                    'monitor\'s own probes are dropped. Set the same value '
                    'on every host of the segment and a different one per '
                    'segment, e.g. from openssl rand -hex 32. Anyone with it '
                    'can forge answers on the probe network, which could '
                    'keep a cut-off host feeding its watchdog or announce a '
                    'watchdog a host does not have: keep it as secret as '
                    'the BMC passwords.'),
]

WATCHDOG_GROUP = cfg.OptGroup(
    'watchdog', title='nova-ha-monitor: the self-fencing watchdog',
    help='nova-ha-monitor arms a watchdog and feeds it only while it holds '
         'quorum: its host heartbeat reached the coordination backend, or '
         'a majority of its segment peers answered, within quorum_timeout. '
         'A host that lost both resets itself (or its guests and '
         'nova-compute are killed), so that when its BMC is dead too, the '
         'engine may evacuate it after a safe wait (see docs/fencing.md).')

WATCHDOG_OPTS = [
    cfg.StrOpt('kind', default='none',
               choices=[('none', 'no watchdog: the watchdog rung is never '
                                 'available for this host'),
                        ('auto', 'the device when it exists (announced '
                                 'as what it is), else softdog when it can '
                                 'be loaded, else software'),
                        ('hardware', 'the device in "device", announced '
                                     'as what the kernel says it is: '
                                     'hardware for a chipset or board '
                                     'watchdog (resets the host whatever '
                                     'hangs), ipmi for the BMC\'s (dies '
                                     'with the BMC), softdog for softdog\'s; '
                                     'anything but hardware is logged as a '
                                     'warning'),
                        ('softdog', 'the softdog kernel module: resets the '
                                    'host unless the kernel itself hangs'),
                        ('software', 'a process that SIGKILLs the guests '
                                     'and nova-compute: useless when the '
                                     'host freezes, engines do not believe '
                                     'it unless told to')],
               help='Which watchdog to arm. The kind armed (a device\'s '
                    'from its identity in /sys/class/watchdog) is logged '
                    'and announced to the peers, armed only while it is '
                    'fed; with none the engine falls back to the operator '
                    'rung when the BMC is dead.'),
    cfg.StrOpt('device', default='/dev/watchdog',
               help='The watchdog device for hardware, softdog and auto '
                    '(/dev/watchdog is the first one registered; '
                    '/dev/watchdogN picks another).'),
    cfg.FloatOpt('timeout', default=10.0, min=1.0,
                 help='Seconds after the last feed at which the watchdog '
                      'fires.'),
    cfg.FloatOpt('feed_interval', default=1.0, min=0.1,
                 help='Seconds between feeds while quorum holds; at most '
                      'half of timeout.'),
    cfg.FloatOpt('quorum_timeout', default=3.0, min=0.2,
                 help='Feeding stops when neither the host heartbeat nor a '
                      'majority of the peers succeeded for this long; at '
                      'least two heartbeat and probe intervals.'),
    cfg.StrOpt('work_dir', default='$state_path/nova-ha-watchdog',
               help='Directory of the software watchdog\'s feed pipe.'),
    cfg.ListOpt('kill_patterns', default=['qemu-system', 'qemu-kvm',
                                          'nova-compute'],
                help='Software watchdog: processes whose command line '
                     'contains one of these are SIGKILLed when it fires.'),
    cfg.StrOpt('fire_command',
               help='Software watchdog: a command run after the kills when '
                    'it fires (for guests that are not QEMU processes).'),
]

RUNG_GROUP = cfg.OptGroup(
    'watchdog_rung', title='nova-ha-engine: the watchdog rung',
    help='When the BMC cannot prove a host off, the engine accepts its '
         'watchdog as proof for hosts whose segment ladder (ha:fencing) '
         'has the rung, once the safe wait computed from the timings the '
         'host announced has passed: lost + quorum_timeout + feed_interval '
         '+ timeout + margin.')

RUNG_OPTS = [
    cfg.ListOpt('kinds', default=['hardware'],
                item_type=types.String(choices=[
                    ('hardware', 'a chipset or board watchdog device'),
                    ('ipmi', 'the BMC\'s watchdog'),
                    ('softdog', 'the softdog kernel module'),
                    ('software', 'nova-ha\'s software watchdog process')]),
                help='Watchdog kinds whose firing the engine takes as proof '
                     'that a host whose BMC cannot be reached has reset '
                     'itself. Only hardware is safe: it resets the host '
                     'whatever hangs. Each other kind is an opt-in that '
                     'risks a VM running twice, on the host and on the host '
                     'it was rebuilt on: ipmi fires through the BMC, the very '
                     'BMC the rung assumes dead; softdog is a kernel timer, '
                     'frozen with a wedged kernel, so a hung host\'s guests '
                     'may resume after its VMs were rebuilt elsewhere; '
                     'software is a process, frozen with the host. Opt in '
                     'only where that cannot happen (a test lab).'),
    cfg.FloatOpt('margin', default=5.0,
                 help='Seconds added to the safe wait for clock skew between '
                      'hosts and engines and for the watchdog\'s own '
                      'action; at least 1.'),
    cfg.FloatOpt('evidence_window', default=10.0,
                 help='An armed watchdog counts only if the host announced '
                      'it at most this long before its heartbeat was '
                      'lost.'),
    cfg.FloatOpt('peer_silent_after', default=1.5,
                 help='A peer that has not heard a host this long calls it '
                      'silent; keep above two probe intervals.'),
    cfg.FloatOpt('peer_view_max_age', default=2.0,
                 help='A peer\'s published view older than this says '
                      'nothing of now.'),
]

ISOLATION_GROUP = cfg.OptGroup(
    'isolation', title='nova-ha-monitor: the isolation response',
    help='A host that finds itself isolated (no coordination backend, no '
         'peer, no gateway) for isolation_time stops or powers off its '
         'guests, so that their failover elsewhere is safe even when its '
         'BMC cannot be reached. Set the same response for every host of '
         'a segment.')

ISOLATION_OPTS = [
    cfg.StrOpt('response', default='leave',
               choices=[('leave', 'leave the guests running'),
                        ('shutdown', 'ask the guests to shut down'),
                        ('power_off', 'power the guests off at once')],
               help='What an isolated host does with its guests.'),
    cfg.FloatOpt('isolation_time', default=10.0, min=1.0,
                 help='Seconds of isolation before the response.'),
    cfg.HostAddressOpt('gateway',
                       help='An address that answers on every healthy host '
                            '(the management gateway); reachable means not '
                            'isolated. Unset: only the coordination backend '
                            'and the peers count.'),
    cfg.PortOpt('gateway_port', default=22,
                help='TCP port probed on the gateway (a refused connection '
                     'counts as an answer).'),
    cfg.StrOpt('guest_command',
               help='Command that applies the response, with the response '
                    'appended as its last argument; unset: libvirt (every '
                    'running domain).'),
]


def register_opts(conf):
    for group, opts in list_opts().items():
        conf.register_group(group)
        conf.register_opts(opts, group=group)


def list_opts():
    return {PEERS_GROUP: PEERS_OPTS, WATCHDOG_GROUP: WATCHDOG_OPTS,
            RUNG_GROUP: RUNG_OPTS, ISOLATION_GROUP: ISOLATION_OPTS}
