"""Options of nova-ha-engine (the recovery engine)."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'engine', title='nova-ha recovery engine',
    help='How nova-ha-engine listens, talks to Nova and recovers hosts and '
         'VMs.')

OPTS = [
    cfg.StrOpt('cloud', default='nova-ha',
               help='Name of the clouds.yaml entry (openstacksdk) with admin '
                    'credentials for Nova\'s API. The engine negotiates the '
                    'highest compute microversion both sides support.'),
    cfg.StrOpt('nova_topic', default='versioned_notifications',
               help='Topic of Nova\'s versioned notifications (Nova needs '
                    '[notifications] notification_format = versioned or '
                    'both). With the nova_ha_forward notify driver in Nova, '
                    'the topic of [notification_forward] (nova_ha_nova), '
                    'which carries only what the engine uses.'),
    cfg.StrOpt('monitor_topic', default='nova_ha',
               help='Topic on which nova-ha monitors publish host, VM and '
                    'process events (schema nova-ha.event/1, see README).'),
    cfg.StrOpt('coordination_url', default='file:///var/lib/nova-ha/locks',
               help='tooz URL of the coordination backend that holds the '
                    'leases of incidents (one owner per recovery): '
                    'redis://, etcd3+http://, zookeeper:// for several '
                    'engines on several machines; file:// for engines on '
                    'one machine. With Redis, a lease lapses lock_timeout '
                    'seconds (a URL option, default 30) after its owner '
                    'stopped renewing it, e.g. redis://host:6379?'
                    'lock_timeout=15.'),
    cfg.FloatOpt('reconcile_interval', default=10.0, min=1.0, max=60.0,
                 help='Seconds between two looks of the engine at Nova, '
                      'the heartbeats and the history when no event '
                      'arrives. A host that died unseen (every event lost, '
                      'every engine down) gets its incident at the next '
                      'look; an incident whose owner died is taken over '
                      'within the lease time plus this.'),
    cfg.FloatOpt('nova_api_timeout', default=30.0, min=1.0,
                 help='Seconds any one call to Nova\'s API may take before '
                      'the engine gives up on it and looks again later '
                      '(a hung nova-api never holds a recovery).'),
    cfg.IntOpt('evacuate_attempts', default=2, min=1,
               help='Evacuations of one VM Nova may fail (no valid host, '
                    'a rebuild error) before the engine records the VM as '
                    'not recovered and alerts.'),
    cfg.IntOpt('max_concurrent_evacuations', default=32, min=1,
               help='Evacuations of one failed host in Nova\'s scheduling '
                    'path at once (accepted by nova-api, not yet claimed '
                    'by a target host), started in ha:priority order. A '
                    'move its target has claimed makes room for the next: '
                    'the bound protects the conductor and scheduler from '
                    'a host with hundreds of VMs without leaving them idle '
                    'while the targets rebuild. A low bound costs time to '
                    'recovery.'),
    cfg.IntOpt('evacuation_request_workers', default=1, min=1,
               help='Evacuation requests sent to nova-api at once, in '
                    'ha:priority order. One at a time, Nova finishes the '
                    'VMs in that order (a target host takes its resource '
                    'lock first come, first served) and placement sees no '
                    'competing claims; more at once send the requests '
                    'sooner, but claims on one target then collide and '
                    'are retried, which costs Nova CPU and delays the '
                    'first VM. Keep 1 unless a nova-api with many workers '
                    'stands in front of many target hosts, where each '
                    'request (0.1-1 s) is what VMs wait for; up to about '
                    '8 is sensible there.'),
    cfg.FloatOpt('evacuation_timeout', default=600.0, min=1.0,
                 help='Seconds to wait for one VM\'s evacuation (and power '
                      'state restore) before recording it as failed.'),
    cfg.FloatOpt('poll_interval', default=0.5, min=0.01,
                 deprecated_for_removal=True,
                 deprecated_reason='It set how often the previous VM and '
                                   'process flows read Nova while they '
                                   'waited. VM and process failures are '
                                   'now incidents of the engine, which '
                                   'reads Nova every power_read_interval '
                                   'while it waits; nothing reads this '
                                   'option. Remove it from nova-ha.conf.',
                 help='Unused: see the deprecation reason.'),
    cfg.FloatOpt('poll_interval_max', default=2.0, min=0.01,
                 deprecated_for_removal=True,
                 deprecated_reason='It set how far the previous engine '
                                   'backed off its checks of the '
                                   'evacuations. '
                                   'The engine now reads Nova\'s records '
                                   'at once on each of Nova\'s rebuild '
                                   'notifications, and every few seconds '
                                   'while it evacuates a host; nothing '
                                   'reads this option. Remove it from '
                                   'nova-ha.conf.',
                 help='Unused: see the deprecation reason.'),
    cfg.FloatOpt('poll_interval_notified', default=15.0, min=0.01,
                 deprecated_for_removal=True,
                 deprecated_reason='It set how often the previous '
                                   'engine checked the evacuations once '
                                   'Nova\'s notifications arrived. The '
                                   'engine now '
                                   'reads Nova\'s records every few '
                                   'seconds while it evacuates a host, '
                                   'notified or not, so a lost '
                                   'notification costs only those '
                                   'seconds; nothing reads this option. '
                                   'Remove it from nova-ha.conf.',
                 help='Unused: see the deprecation reason.'),
    cfg.FloatOpt('compute_dead_fence_after', default=0.0, min=0.0,
                 help='The last step of a dead nova-compute\'s escalation '
                      '(after nova-ha-monitor\'s restarts and the disable): '
                      'a live host whose nova-compute has not reported to '
                      'Nova for this many seconds is fenced through its BMC '
                      'and its HA VMs evacuated, since its VMs can be '
                      'neither stopped, moved nor watched. 0 (the default) '
                      'never fences a host for its nova-compute alone.'),
    cfg.IntOpt('quarantine_failures', default=3, min=0,
               help='Flap damping: a host with this many failures (incidents,'
                    ' a cancelled one included: a heartbeat that comes and '
                    'goes) within quarantine_window is quarantined: '
                    'disabled in Nova, removed from its reserved aggregate '
                    'and an operator alerted; its VMs are still recovered. '
                    '0 turns it off.'),
    cfg.FloatOpt('quarantine_window', default=3600.0, min=1.0,
                 help='Seconds over which a host\'s failures are counted '
                      'for quarantine_failures.'),
    cfg.ListOpt('unsegmented_fencing', default=['bmc', 'watchdog', 'operator'],
                item_type=cfg.types.String(
                    choices=['bmc', 'watchdog', 'operator']),
                help='The fencing ladder of the hosts in no failover segment '
                     '(a segment names its own with the aggregate metadata '
                     'ha:fencing): the rungs tried, in order, to prove a '
                     'failed host powered off. bmc: its BMC powers it off; '
                     'watchdog: its armed hardware watchdog, after the safe '
                     'wait; operator: an operator attests it off (nova-ha '
                     'host confirm-down). Leaving out operator refuses '
                     'attestations; leaving out bmc never powers these '
                     'hosts off.'),
    cfg.IntOpt('fence_attempts', default=3, min=1,
               help='Fencing attempts before giving up; without a '
                    'confirmed power-off no VM is evacuated.'),
    cfg.FloatOpt('fence_retry_delay', default=5.0, min=0.0,
                 help='Seconds between fencing attempts.'),
    cfg.FloatOpt('storm_max_share', default=0.5, min=0.0, max=1.0,
                 help='When two or more hosts of a segment (or of the '
                      'hosts in no segment) are failing at once and they '
                      'are this share of it or more, the engine suspects a '
                      'partition: it alerts and does not evacuate them. A '
                      'host whose BMC reports it powered off is not held.'),
    cfg.FloatOpt('storm_settle_time', default=1.0, min=0.0,
                 help='Hosts lost to one partition are reported within '
                      'moments of each other. A host-down report that '
                      'arrives less than this many seconds after the '
                      'segment\'s previous one belongs to the same storm: '
                      'beyond the first storm_burst_hosts of a storm, each '
                      'report waits this long and is then judged by the '
                      'storm guard with every report that arrived. 0 '
                      'judges every report at once.'),
    cfg.IntOpt('storm_burst_hosts', default=1, min=0,
               help='Host-down reports per segment and storm judged (and, '
                    'if the guard allows, fenced and evacuated) without '
                    'waiting storm_settle_time. Only hosts whose fence '
                    'driver powers them off qualify (never noop), so a '
                    'partition costs at most this many hosts per segment, '
                    'each fenced before its VMs move; heartbeat losses are '
                    'also confirmed through Nova\'s heartbeat or the BMC '
                    'first. 0 makes every report wait, adding '
                    'storm_settle_time to every recovery.'),
    cfg.IntOpt('vm_restart_max_attempts', default=3, min=0,
               help='Restarts of one crashed VM within vm_restart_window: '
                    'the first starts it (or hard-reboots it when Nova '
                    'still shows it active), the next ones hard-reboot it. '
                    'Then it is migrated (vm_migrate_when_restarts_fail) or '
                    'escalated to an operator.'),
    cfg.FloatOpt('vm_restart_backoff', default=10.0, min=0.0,
                 help='Seconds to wait before a restart that follows an '
                      'earlier one of the same VM, doubled for each later '
                      'one (up to vm_restart_backoff_max); the VM started '
                      'meanwhile by its owner or by Nova (seen stopped, '
                      'then ACTIVE) ends it. 0: no wait.'),
    cfg.FloatOpt('vm_restart_backoff_max', default=120.0, min=0.0,
                 help='The longest back-off between two restarts.'),
    cfg.BoolOpt('vm_migrate_when_restarts_fail', default=True,
                help='When vm_restart_max_attempts restarts did not hold, '
                     'cold-migrate the VM to another host of its segment '
                     '(its host may be the cause) before escalating to an '
                     'operator.'),
    cfg.FloatOpt('vm_restart_timeout', default=180.0, min=1.0,
                 help='Seconds a restart (or a move) of a failed VM may '
                      'take before the engine gives up on it and alerts: '
                      'the VM is left for an operator.'),
    cfg.FloatOpt('vm_restart_window', default=3600.0, min=1.0,
                 help='Window (seconds) over which VM restarts are '
                      'counted.'),
    cfg.FloatOpt('nova_down_wait', default=120.0, min=1.0,
                 help='When nova-compute dies on a live host, its service '
                      'is disabled only once Nova sees it down (disabling '
                      'a service Nova believes up makes nova-api call the '
                      'dead compute over RPC, which hangs); after this '
                      'many seconds without that, an alert says the host '
                      'is not disabled yet, and the wait goes on.'),
    cfg.FloatOpt('server_inventory_interval', default=60.0, min=0.0,
                 deprecated_for_removal=True,
                 deprecated_reason='Host failures are recovered by the '
                                   'engine of nova_ha.engine, which reads '
                                   'the failed host\'s servers when it '
                                   'plans; the inventory is no longer read.',
                 help='Unused: see the deprecation reason.'),
]


# What the engine acts on among Nova's notifications (see
# nova_ha.notifier.events.parse_nova_notification).
NOVA_EVENT_TYPES = (r'^instance\.(power_off\.end|'
                    r'rebuild\.(start|end|error))$')

FORWARD_GROUP = cfg.OptGroup(
    'notification_forward', title='nova-ha notification forwarding',
    help='Read inside Nova\'s services when [oslo_messaging_notifications] '
         'driver lists nova_ha_forward (nova_ha.notifier.forward): which of '
         'Nova\'s notifications are sent to nova-ha-engine, and on which '
         'topic. Filtering where notifications are born keeps the other '
         '99 % of a busy cloud\'s notifications off the engine.')

FORWARD_OPTS = [
    cfg.StrOpt('topic', default='nova_ha_nova',
               help='Topic the matching notifications are sent to; set '
                    '[engine] nova_topic of nova-ha-engine to the same '
                    'value.'),
    cfg.StrOpt('event_types', default=NOVA_EVENT_TYPES,
               help='Regular expression of the event types to forward. '
                    'The default is exactly what the engine acts on.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)
    conf.register_group(FORWARD_GROUP)
    conf.register_opts(FORWARD_OPTS, group=FORWARD_GROUP)


def list_opts():
    return {GROUP: OPTS, FORWARD_GROUP: FORWARD_OPTS}
