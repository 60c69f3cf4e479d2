"""Options read inside nova-scheduler by nova-ha's filters and weigher."""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'ha_scheduler',
    title='nova-ha scheduler plugins',
    help='Options of the HAReservedHostFilter, HASegmentFilter and '
         'HAFailoverWeigher, set in nova.conf of nova-scheduler.')

OPTS = [
    cfg.BoolOpt(
        'confine_all_moves',
        default=True,
        help='When true, HASegmentFilter keeps cold and live migrations and '
             'resizes of an instance whose host is in a failover segment '
             'inside that segment, as it always does for evacuations. Set '
             'false to let planned moves cross segments (for example with '
             'block migration between storage domains).'),
    cfg.StrOpt(
        'unsegmented_failover',
        default='unsegmented',
        choices=[('unsegmented', 'to other hosts in no segment'),
                 ('any', 'to any host, segment hosts and their reserved '
                         'capacity included')],
        help='Where HASegmentFilter lets the evacuated VMs of a host in no '
             'failover segment go. A segment\'s hosts share a storage '
             'boundary the failed host does not, and its reserved hosts '
             'are kept for the segment\'s own failures.'),
    cfg.FloatOpt(
        'failover_weight_multiplier',
        default=1000.0,
        help='Multiplier of HAFailoverWeigher. The weigher gives 1.0 to the '
             'hosts an evacuation should try first under its segment\'s '
             'recovery method (reserved hosts for rh_priority and '
             'reserved_host, ordinary hosts for auto_priority and auto) and '
             '0.0 to the others. The default outweighs the resource '
             'weighers (multiplier 1.0) so the preference holds whatever '
             'the free capacity; Nova\'s build failure weigher (1000000.0) '
             'still wins. 0 disables the weigher.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
