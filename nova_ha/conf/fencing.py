"""Options of nova_ha.fencing (filled in by the fencing work)."""

from oslo_config import cfg

GROUP = cfg.OptGroup('fencing', title='nova-ha fencing')

OPTS = []


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS} if OPTS else {}
