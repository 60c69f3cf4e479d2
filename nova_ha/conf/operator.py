"""Options of the operator tools (``nova-ha`` / ``openstack ha``).

Read by the CLI commands, never by a service.  Under ``openstack ha`` the
file comes from the NOVA_HA_CONFIG_FILE environment variable (see
nova_ha.cmd.cli).
"""

from oslo_config import cfg

GROUP = cfg.OptGroup(
    'operator',
    title='nova-ha operator tools',
    help='Maintenance mode (mark a host, drain its VMs) and the other '
         'operator commands of nova-ha and openstack ha.')

OPTS = [
    cfg.StrOpt('maintenance_aggregate', default='ha-maintenance',
               help='Name of the host aggregate that holds the hosts put in '
                    'maintenance by "maintenance enter". Created on demand '
                    'with metadata ha:maintenance=true; the engine and the '
                    'scheduler filters read that key, so the mark lives in '
                    'Nova and needs no database of its own.'),
    cfg.IntOpt('drain_max_concurrent', default=2, min=1,
               help='VMs moved off a host at once while draining it for '
                    'maintenance, started HA VMs first in ha:priority '
                    'order. Each live migration copies the VM\'s memory '
                    'over the network, and nova-compute runs at most '
                    '[DEFAULT] max_concurrent_live_migrations of them per '
                    'host anyway (the others queue, using up their '
                    'timeout).'),
    cfg.FloatOpt('drain_migration_timeout', default=1800.0, min=1.0,
                 help='Seconds to wait for one VM\'s move (live or cold '
                      'migration, including its confirmation) before '
                      'reporting it as failed. Nova may still finish it; '
                      'running "maintenance enter" again checks.'),
    cfg.FloatOpt('drain_poll_interval', default=2.0, min=0.05,
                 help='Seconds between checks of the VMs being moved.'),
]


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS}
