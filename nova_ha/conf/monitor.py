"""Options of the nova-ha-monitor service, which runs on each compute node.

``[monitor]`` says which host this is and which monitors run; each watched
process has its own group with the same option names
(``[monitor_nova_compute]``, ``[monitor_libvirtd]``), so an operator reads
one section per process instead of prefixed option names.
"""

import socket

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'monitor', title='nova-ha compute-node monitor',
    help='nova-ha-monitor runs on every compute node: it heartbeats for the '
         'host, watches nova-compute (and optionally libvirtd) and reports '
         'VM failures seen by libvirt, all on [engine] monitor_topic.')

OPTS = [
    cfg.StrOpt('host',
               default=socket.gethostname(),
               sample_default='<current hostname>',
               help='Name of this compute host as Nova knows it: must equal '
                    '[DEFAULT] host of nova-compute on this node (Nova\'s '
                    'default is also the hostname). Events and the host '
                    'heartbeat carry this name; a mismatch makes the engine '
                    'act on a host that does not exist.'),
    cfg.BoolOpt('host_heartbeat',
                default=True,
                help='Heartbeat for the host in the tooz group '
                     'nova-ha.nova-ha-host, with the URL and timing of '
                     '[ha_servicegroup]. The engine judges a host dead only '
                     'when both this heartbeat and nova-compute\'s '
                     'membership are gone; nova-compute gone with this '
                     'heartbeat alive is a process failure, not a host '
                     'death.'),
    cfg.BoolOpt('libvirt_events',
                default=True,
                help='Run the libvirt event monitor (VM crashes, watchdog, '
                     'I/O errors, guest panics; options in '
                     '[libvirt_monitor]). When the libvirt Python binding '
                     'is missing the error is logged and the other '
                     'monitors run.'),
    cfg.StrOpt('event_key',
               secret=True,
               help='Key with which nova-ha-monitor signs every event it '
                    'publishes (HMAC-SHA256), so that the engine can tell '
                    'this host\'s events from forged ones. Generate one '
                    'per host, e.g. with openssl rand -hex 32. '
                    'nova-ha-engine must have the same key for this host in '
                    '[event_signing] host_keys. Unset: events are not '
                    'signed, and engines refuse them unless their '
                    '[event_signing] required is turned off (it is on by '
                    'default).'),
]

# The process name (events.PROCESSES) -> its option group.
PROCESS_GROUPS = {
    'nova-compute': 'monitor_nova_compute',
    'libvirtd': 'monitor_libvirtd',
}

CHECK_SYSTEMD = 'systemd'
CHECK_PIDFILE = 'pidfile'
CHECK_COMMAND = 'command'


def _process_opts(process, enabled, enabled_help, unit, pattern):
    return [
        cfg.BoolOpt('enabled', default=enabled, help=enabled_help),
        cfg.StrOpt(
            'check', default=CHECK_SYSTEMD,
            choices=[(CHECK_SYSTEMD, 'the ActiveState of systemd_unit '
                                     '(systemctl show)'),
                     (CHECK_PIDFILE, 'the pid in pid_file is alive (and its '
                                     'command line matches command_pattern '
                                     'when set)'),
                     (CHECK_COMMAND, 'a process whose command line matches '
                                     'command_pattern exists (like pgrep '
                                     '-f)')],
            help='How to tell whether %s runs. A failing check (systemctl '
                 'unreachable, unreadable pid file) counts as unknown, never '
                 'as down.' % process),
        cfg.StrOpt(
            'systemd_unit', default=unit,
            help='systemd unit of %s (check = systemd, and the default '
                 'restart). Distributions differ, e.g. '
                 'openstack-nova-compute.service on RHEL.' % process),
        cfg.StrOpt(
            'pid_file',
            help='Pid file of %s (check = pidfile).' % process),
        cfg.StrOpt(
            'command_pattern', default=pattern,
            help='Regular expression searched in the process command line '
                 '(arguments joined by spaces). Required for check = '
                 'command; with check = pidfile it guards against a reused '
                 'pid (leave empty to trust the pid alone).'),
        cfg.StrOpt(
            'restart_command',
            help='Command that restarts %s, split like a shell would but '
                 'run without one; it must return once the process is '
                 'started. Default with check = systemd: systemctl restart '
                 'systemd_unit; required with the other checks unless '
                 'max_restarts = 0. Processes it starts belong to '
                 'nova-ha-monitor\'s cgroup unless it uses systemd-run.'
                 % process),
        cfg.FloatOpt(
            'restart_timeout', default=120.0, min=1.0,
            help='Seconds the restart command may run before it is killed '
                 'and the attempt counts as failed.'),
        cfg.FloatOpt(
            'check_interval', default=2.0, min=0.05,
            help='Seconds between two checks.'),
        cfg.FloatOpt(
            'check_timeout', default=10.0, min=0.1,
            help='Seconds a check may take (systemctl); a check that times '
                 'out is unknown.'),
        cfg.IntOpt(
            'confirm_checks', default=2, min=1,
            help='Consecutive checks that must agree before %s is taken for '
                 'down (or, after a restart, for up again): one odd reading '
                 'during a restart or a pid file rewrite changes nothing.'
                 % process),
        cfg.FloatOpt(
            'start_timeout', default=60.0, min=0.1,
            help='Seconds after a restart within which %s must be seen up '
                 'confirm_checks times; otherwise the attempt failed.'
                 % process),
        cfg.FloatOpt(
            'start_grace', default=5.0, min=0.0,
            help='Seconds after a restart command returned during which %s '
                 'may still be seen down (a pid file not yet written); '
                 'confirmed down after that, it died at start and the '
                 'attempt failed at once, so that a crash loop is reported '
                 'within seconds. Raise it for a process that takes longer '
                 'to appear.' % process),
        cfg.IntOpt(
            'max_restarts', default=3, min=0,
            help='Restarts allowed within restart_window. When one more '
                 'would be needed the monitor gives up and reports '
                 'process.down once (the engine then disables the compute '
                 'service); it reports process.up once the process is seen '
                 'up again. 0 only watches and reports.'),
        cfg.FloatOpt(
            'restart_window', default=600.0, min=1.0,
            help='Seconds over which restarts are counted.'),
        cfg.FloatOpt(
            'backoff_initial', default=2.0, min=0.0,
            help='Seconds between a failure and the second restart within '
                 'restart_window (the first restart is immediate).'),
        cfg.FloatOpt(
            'backoff_factor', default=2.0, min=1.0,
            help='Each further restart within restart_window waits this '
                 'many times longer.'),
        cfg.FloatOpt(
            'backoff_max', default=60.0, min=0.0,
            help='Upper bound of the wait before a restart, in seconds.'),
    ]


PROCESS_OPTS = {
    'nova-compute': _process_opts(
        'nova-compute', True,
        'Watch nova-compute and restart it when it dies.',
        'nova-compute.service', r'(^|/)nova-compute(\s|$)'),
    'libvirtd': _process_opts(
        'libvirtd', False,
        'Watch libvirtd and restart it when it dies. Off by default: where '
        'libvirtd is socket-activated (libvirtd.socket, or the modular '
        'virtqemud daemons) an idle libvirtd exits by design, which is not '
        'a failure; enable it only for a libvirtd that always runs.',
        'libvirtd.service', r'(^|/)libvirtd(\s|$)'),
}

PROCESS_OPT_GROUPS = {
    process: cfg.OptGroup(
        group, title='nova-ha-monitor: %s process' % process,
        help='How nova-ha-monitor checks and restarts %s.' % process)
    for process, group in PROCESS_GROUPS.items()
}


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    for process, group in PROCESS_OPT_GROUPS.items():
        conf.register_group(group)
        conf.register_opts(PROCESS_OPTS[process], group=group)


def list_opts():
    result = {GROUP: OPTS}
    for process, group in PROCESS_OPT_GROUPS.items():
        result[group] = PROCESS_OPTS[process]
    return result
