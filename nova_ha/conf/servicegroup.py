"""Options of nova_ha.servicegroup (filled in by the servicegroup work)."""

from oslo_config import cfg

GROUP = cfg.OptGroup('servicegroup', title='nova-ha servicegroup')

OPTS = []


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS} if OPTS else {}
