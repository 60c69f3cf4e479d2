"""Options of the nova-ha-monitor service (monitor): filled in by issue 5."""

from oslo_config import cfg  # noqa: F401

OPTS = []


def register_opts(conf):
    pass


def list_opts():
    return {}
