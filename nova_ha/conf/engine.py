"""Options of nova_ha.engine (filled in by the engine work)."""

from oslo_config import cfg

GROUP = cfg.OptGroup('engine', title='nova-ha engine')

OPTS = []


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS} if OPTS else {}
