"""Options of nova-ha-monitor's libvirt event monitor ([libvirt_monitor])."""

from oslo_config import cfg
from oslo_config import types

from nova_ha.model import libvirt_kinds

GROUP = cfg.OptGroup(
    'libvirt_monitor', title='nova-ha libvirt event monitor',
    help='How nova-ha-monitor follows libvirt\'s domain events on a compute '
         'node and which of them it reports to the engine as VM failures '
         '(vm.failure, instance = the domain UUID = the Nova server UUID).')

OPTS = [
    cfg.StrOpt('connection_uri', default='qemu:///system',
               help='libvirt URI to watch, opened read-only; the one '
                    'nova-compute uses ([libvirt] connection_uri in '
                    'nova.conf, qemu:///system by default).'),
    cfg.ListOpt('failure_events',
                item_type=types.String(choices=libvirt_kinds.FAILURE_KINDS),
                default=list(libvirt_kinds.DEFAULT_FAILURE_KINDS),
                help='Domain events reported as VM failures. crashed: the '
                     'guest crashed and was shut off (STOPPED/CRASHED, or '
                     'found shut off "crashed" after libvirtd restarted); '
                     'stopped-failed: the QEMU process of a running guest '
                     'ended without being asked (killed, OOM, emulator '
                     'crash: STOPPED/FAILED; a start that fails is not a '
                     'VM failure); '
                     'guest-panic: the guest kernel panicked (CRASHED '
                     'event, needs a panic device); watchdog: the guest '
                     'watchdog fired, whatever its action; io-error-pause, '
                     'io-error-report, io-error-ignore: a disk I/O error '
                     'by the action QEMU took (the guest paused, the error '
                     'passed to the guest, the error ignored); '
                     'control-error: libvirt lost its QEMU monitor. A '
                     'stop that Nova, a user or the guest asked for '
                     '(STOPPED/SHUTDOWN, DESTROYED, MIGRATED, SAVED, '
                     'FROM_SNAPSHOT) is never a failure.'),
    cfg.IntOpt('keepalive_interval', default=5, min=1,
               help='Seconds between keepalive probes to libvirtd on an '
                    'idle connection; with keepalive_count, how soon a '
                    'hung libvirtd is noticed (a libvirtd that exits is '
                    'noticed at once). Local test drivers ignore it.'),
    cfg.IntOpt('keepalive_count', default=3, min=1,
               help='Keepalive probes without an answer before the '
                    'connection counts as dead and is reopened.'),
    cfg.FloatOpt('reconnect_interval', default=0.5, min=0.01,
                 help='Seconds before the first attempt to reopen a lost '
                      'libvirt connection; doubled after each failed '
                      'attempt up to reconnect_interval_max. After a '
                      'reconnect the domains\' states are compared with '
                      'what was known, and a failure missed meanwhile is '
                      'reported once.'),
    cfg.FloatOpt('reconnect_interval_max', default=30.0, min=0.01,
                 help='Longest wait between attempts to reopen the libvirt '
                      'connection.'),
    cfg.FloatOpt('resync_interval', default=10.0, min=0.0,
                 help='Seconds between re-reads of every domain\'s state '
                      'while connected (one libvirt call), reporting once a '
                      'failure libvirt sent no event for: a guest that dies '
                      'while a restarted libvirtd is still re-attaching to '
                      'it is found "shut off (daemon)" without any event. '
                      '0 disables the re-reads.'),
    cfg.FloatOpt('publish_retry_interval_max', default=30.0, min=0.01,
                 help='Longest wait between attempts to publish a VM '
                      'failure that the message bus refused (the wait '
                      'starts at 0.5 s and doubles). Failures wait in '
                      'order and are never dropped while the service '
                      'runs.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
