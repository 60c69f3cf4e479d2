"""Options of nova_ha.history (filled in by the history work)."""

from oslo_config import cfg

GROUP = cfg.OptGroup('history', title='nova-ha history')

OPTS = []


def register_opts(conf):
    conf.register_group(GROUP)
    conf.register_opts(OPTS, group=GROUP)


def list_opts():
    return {GROUP: OPTS} if OPTS else {}
