"""Options of nova-ha's servicegroup driver and liveness watcher.

They are read inside every Nova service (nova.conf) once the driver is
enabled, and by the engine's liveness watcher.  The group is prefixed like
``[ha_scheduler]`` so that it can never clash with a future Nova group.
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'ha_servicegroup',
    title='nova-ha servicegroup driver',
    help='Fast host liveness for Nova: set [DEFAULT] servicegroup_driver = '
         'nova_ha and add nova_ha_loader to [oslo_messaging_notifications] '
         'driver in nova.conf of every Nova service (see README).')

OPTS = [
    cfg.StrOpt(
        'backend_url',
        secret=True,
        help='tooz coordination URL that holds the group membership, for '
             'example redis://:PASSWORD@10.0.0.5:6379, '
             'etcd3+http://10.0.0.5:2379 or zookeeper://10.0.0.5:2181. '
             'Every Nova service and the nova-ha engine must use the same '
             'URL. Unset means the embedded backend: tooz\'s file driver in '
             'embedded_path, which only works when every Nova service runs '
             'on one host (demo and single-node labs). Timing parameters '
             '(membership timeout, socket timeout) are derived from '
             'down_time unless the URL sets them.'),
    cfg.StrOpt(
        'embedded_path',
        default='$state_path/nova-ha-liveness',
        help='Directory of the embedded (file) backend, used when '
             'backend_url is unset.'),
    cfg.FloatOpt(
        'heartbeat_interval',
        default=0.5,
        min=0.05,
        help='Seconds between two heartbeats of a joined service to the '
             'coordination backend. A service that stops heartbeating is '
             'reported down down_time seconds after its last heartbeat; '
             'a pause (for example a stalled process) shorter than '
             'down_time - heartbeat_interval is tolerated.'),
    cfg.FloatOpt(
        'down_time',
        default=2.0,
        min=0.5,
        help='Seconds without a heartbeat after which the backend drops a '
             'member and Nova reads the service as down. Must exceed '
             'heartbeat_interval by at least one interval. A shorter time '
             'detects a dead host sooner, but it must exceed the worst '
             'scheduling delay of a loaded host, or a busy live host reads '
             'as down; 2-5 s is sensible. ZooKeeper and etcd impose their '
             'own minimum session/lease lengths (about 4 s and 2-5 s by '
             'default).'),
    cfg.FloatOpt(
        'poll_interval',
        default=0.25,
        min=0.02,
        help='Seconds between two reads of the group membership by each '
             'process that asks whether services are up (API, scheduler, '
             'conductor, engine). One read per process and group, never '
             'one per is_up call; detection time is about down_time plus '
             'up to one poll_interval.'),
    cfg.ListOpt(
        'topics',
        default=['compute'],
        help='Nova service topics whose liveness comes from the '
             'coordination backend. Other services (conductor, scheduler) '
             'keep Nova\'s database heartbeat semantics.'),
    cfg.FloatOpt(
        'confirm_nova_heartbeat_stale',
        default=20.0,
        min=0.0,
        help='Second channel of a host-down confirmation: Nova\'s own '
             'database heartbeat of the compute service counts as stale '
             '(the host is not merely cut off from the coordination '
             'backend) once older than this many seconds. Keep it above '
             '[DEFAULT] report_interval (10 s by default) plus jitter.'),
    cfg.FloatOpt(
        'confirm_max_wait',
        default=120.0,
        min=0.0,
        help='Seconds a lost host may stay unconfirmed (heartbeat lost but '
             'the second channel says it is alive, or nothing can be '
             'proven) before the confirmation asks for an operator alert '
             'instead of waiting longer.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS} if OPTS else {}
